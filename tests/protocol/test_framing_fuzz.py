"""Fragmentation at every split point, and hypothesis fuzzing of the codec."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.conftest import make_conn, run

STREAM = (
    b"set a 0 0 5\r\nx\r\ny\r\n"
    b"get a b\r\n"
    b"set n 3 0 2 noreply\r\n10\r\n"
    b"incr n 5\r\n"
    b"set bad 0 0 2\r\nabc\r\n"
    b"gets a\r\n"
    b"delete a 0\r\n"
    b"bogus\n"
    b"get n\r\n"
)


def _split_run(chunks: list[bytes]) -> bytes:
    conn = make_conn()
    out = []
    for c in chunks:
        conn.receive_data(c)
        out.append(conn.data_to_send())
    return b"".join(out)


def _mask_cas(b: bytes) -> bytes:
    return re.sub(rb"(VALUE \S+ \d+ \d+) \d+", rb"\1 C", b)


def test_every_single_split_point_matches_unsplit():
    whole = _mask_cas(run(STREAM))
    for i in range(len(STREAM) + 1):
        assert _mask_cas(_split_run([STREAM[:i], STREAM[i:]])) == whole, i


def test_byte_at_a_time_matches_unsplit():
    whole = _mask_cas(run(STREAM))
    assert _mask_cas(_split_run([STREAM[i : i + 1] for i in range(len(STREAM))])) == whole


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_random_splits_match_unsplit(cuts):
    cuts = sorted(set(cuts))
    bounds = [0, *cuts, len(STREAM)]
    chunks = [STREAM[a:b] for a, b in pairwise(bounds)]
    assert _mask_cas(_split_run(chunks)) == _mask_cas(run(STREAM))


_REPLY_LINE = re.compile(
    rb"(STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|END|OK|RESET|ERROR|\d+|"
    rb"VERSION \S+|STAT \S+ .*|(CLIENT|SERVER)_ERROR .*|ERROR.*|[A-Z_]+ .*)"
)

_WORDS = [b"get", b"gets", b"set", b"add", b"cas", b"incr", b"delete", b"touch", b"gat",
          b"noreply", b"0", b"1", b"5", b"-1", b"k", b"\r\n", b"\n", b" ", b"verbosity",
          b"flush_all", b"version", b"append", b"stats", b"slabs", b"lru", b"watch"]  # fmt: skip


def _check_wellformed(out: bytes) -> None:
    """Replies are CRLF lines; VALUE headers are followed by exactly <n> bytes + CRLF."""
    i = 0
    while i < len(out):
        j = out.index(b"\r\n", i)
        line = out[i:j]
        i = j + 2
        if line.startswith(b"VALUE "):
            n = int(line.split(b" ")[3])
            assert out[i + n : i + n + 2] == b"\r\n"
            i += n + 2
        else:
            assert _REPLY_LINE.fullmatch(line), line


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.binary(max_size=8)), max_size=40))
def test_fuzz_never_raises_and_output_is_wellformed(parts):
    conn = make_conn()
    data = b"".join(parts)
    conn.receive_data(data)
    _check_wellformed(conn.data_to_send())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=50))
def test_fuzz_arbitrary_bytes_any_fragmentation(data, step):
    conn = make_conn()
    out = []
    for i in range(0, len(data), step):
        conn.receive_data(data[i : i + step])
        out.append(conn.data_to_send())
    _check_wellformed(b"".join(out))
