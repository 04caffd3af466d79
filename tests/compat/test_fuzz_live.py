"""Fuzz a live slabcache with arbitrary bytes and mutated valid commands.

Each case goes to a live memcached 1.6.18 and a live slabcache on a fresh
connection, which is then half-closed: memcached answers every complete request
and closes. Both must answer with the same bytes (masked as in the differential
tests) and both must close; meanwhile a second client connected alongside keeps
getting correct answers, every case moves the two servers' counters alike, and
the server process stays alive.
"""

from __future__ import annotations

import itertools
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.normalize import line_diff, mask, masked_fields
from tests.helpers.recording import describe
from tests.helpers.servers import Server
from tests.helpers.wire import read_until_closed, request, stats

# KEY is replaced by a key unique to the case, so cases do not see each other's items.
VALID = [
    b"set KEY 0 0 5\r\nhello\r\n",
    b"add KEY 1 0 3\r\nabc\r\n",
    b"replace KEY 0 0 1\r\nx\r\n",
    b"append KEY 0 0 2\r\nzz\r\n",
    b"prepend KEY 0 0 2\r\naa\r\n",
    b"cas KEY 0 0 1 1\r\nx\r\n",
    b"get KEY\r\n",
    b"gets KEY KEY2\r\n",
    b"gat 100 KEY\r\n",
    b"gats 100 KEY\r\n",
    b"bget KEY\r\n",
    b"incr KEY 1\r\n",
    b"decr KEY 1\r\n",
    b"delete KEY\r\n",
    b"delete KEY noreply\r\n",
    b"touch KEY 100\r\n",
    b"set KEY 0 0 2 noreply\r\n12\r\n",
    b"version\r\n",
    b"verbosity 0\r\n",
    b"stats settings\r\n",
    b"stats detail dump\r\n",
    b"mn\r\n",
    b"\r\n",
]

mutated = st.tuples(
    st.lists(st.sampled_from(VALID), min_size=1, max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete", "cut"]),
            st.integers(0, 400),
            st.binary(max_size=8),
        ),
        max_size=4,
    ),
)


def apply_mutations(parts: list[bytes], edits: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(b"".join(parts))
    for op, pos, blob in edits:
        if not data:
            break
        i = pos % len(data)
        if op == "flip":
            data[i] ^= 1 << (pos % 8)
        elif op == "insert":
            data[i:i] = blob
        elif op == "delete":
            del data[i : i + 1 + len(blob)]
        else:
            del data[i:]
    return bytes(data)


TOKENS = [b"\r\n", b"\n", b" ", b"get", b"set", b"0", b"-1", b"noreply", b"\x00", b"k"]

cases = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join),
    mutated.map(lambda t: apply_mutations(*t)),
)

counter = itertools.count()
COMPARED = masked_fields(reclaim_timing=True)


def counter_delta(before: dict[str, str], after: dict[str, str]) -> dict[str, int]:
    """How much each compared numeric counter moved during one case."""
    return {
        k: int(after[k]) - int(v)
        for k, v in before.items()
        if k not in COMPARED and v.isdigit() and after.get(k, "").isdigit()
    }


def exchange(server: Server, data: bytes) -> tuple[bytes, bool]:
    sock = server.connect(timeout=10)
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # closed on us mid-send: what it said is still compared
    out, closed = read_until_closed(sock, timeout=10.0)
    sock.close()
    return out, closed


@pytest.fixture(scope="module")
def fuzz_pair(module_server_factory):
    servers = [module_server_factory(kind) for kind in ("memcached", "slabcache")]
    side = [s.connect(timeout=10) for s in servers]
    yield servers, side
    for sock in side:
        sock.close()
    for s in servers:
        assert s.alive(), f"{s.kind} is no longer running:\n{s.log()}"


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases)
def test_fuzz_case(fuzz_pair, case: bytes) -> None:
    servers, side = fuzz_pair
    n = next(counter)
    data = case.replace(b"KEY2", b"fz%db" % n).replace(b"KEY", b"fz%da" % n)
    outcomes, counters = [], []
    before = {server.kind: stats(sock) for server, sock in zip(servers, side, strict=True)}
    for server, sock in zip(servers, side, strict=True):
        out, closed = exchange(server, data)
        outcomes.append((mask(out, reclaim_timing=True), closed))
        assert server.alive(), f"{server.kind} died on {data!r}:\n{server.log()}"
        # The client alongside is unaffected.
        value = b"side%d" % n
        reply = request(
            sock, b"set side 0 0 %d\r\n%s\r\nget side\r\n" % (len(value), value), b"END\r\n"
        )
        assert reply == b"STORED\r\nVALUE side 0 %d\r\n%s\r\nEND\r\n" % (len(value), value), (
            f"{server.kind}: side client got {reply!r} after {data!r}"
        )
        counters.append(counter_delta(before[server.kind], stats(sock)))
    (ref, ref_closed), (got, got_closed) = outcomes
    assert ref_closed, f"memcached did not close after EOF on {data!r}"
    assert got_closed, f"slabcache did not close after EOF on {data!r} (replied {got!r})"
    assert got == ref, f"on {data!r}: {line_diff(ref, got)}"
    # Counters too: the case must have counted what memcached counts for it.
    assert counters[0] == counters[1], f"stats changes for {data!r}: {describe(*counters)}"
