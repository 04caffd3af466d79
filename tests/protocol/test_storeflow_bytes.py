"""Storage commands over the codecs: the item is allocated at the command line and filled as
the value arrives (engine.alloc_item / write_value / complete_store / abort_store)."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slabcache.engine import Engine, EngineConfig, ManualClock
from slabcache.protocol.binary import BinaryProtocol
from slabcache.protocol.context import LocalContext
from slabcache.protocol.text import TextProtocol
from slabcache.settings import Settings

PAGE = 1 << 20
HDR = struct.Struct(">BBHBBHIIQ")


def text_conn(**cfg: object) -> TextProtocol:
    s = Settings()
    eng = Engine(EngineConfig(**cfg), clock=ManualClock())  # type: ignore[arg-type]
    return TextProtocol(eng, LocalContext(s))


def used_chunks(eng: Engine) -> int:
    return sum(v for k, v in eng.stats_slabs() if k.endswith(":used_chunks"))


def feed(conn: TextProtocol | BinaryProtocol, data: bytes, cuts: list[int]) -> bytes:
    out = b""
    pos = 0
    for c in cuts:
        conn.receive_data(data[pos : pos + c])
        out += conn.data_to_send()
        pos += c
    conn.receive_data(data[pos:])
    return out + conn.data_to_send()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([0, 5, 3000, 20000, 600000]),
    cuts=st.lists(st.integers(min_value=1, max_value=200000), max_size=8),
    noreply=st.booleans(),
)
def test_text_value_in_pieces_matches_one_feed(size, cuts, noreply):
    value = (b"abcdefghij" * (size // 10 + 1))[:size]
    nr = b" noreply" if noreply else b""
    req = b"set k 5 0 %d%s\r\n%s\r\nget k\r\n" % (size, nr, value)
    whole = text_conn()
    split = text_conn()
    expect = feed(whole, req, [])
    assert feed(split, req, cuts) == expect
    assert expect.endswith(b"VALUE k 5 %d\r\n%s\r\nEND\r\n" % (size, value))
    assert used_chunks(split.engine) == used_chunks(whole.engine)


def test_text_close_mid_value_frees_the_held_item():
    for size in (100, 700000):
        conn = text_conn()
        conn.receive_data(b"set k 0 0 1\r\nx\r\n")
        base = used_chunks(conn.engine)
        conn.receive_data(b"set k 0 0 %d\r\n" % size + b"v" * (size // 2))
        assert conn.reading_block
        assert used_chunks(conn.engine) > base  # allocated when the line was parsed
        conn.connection_lost()
        assert used_chunks(conn.engine) == base
        assert conn.engine.get(b"k") is not None  # the old value stays


def test_text_bad_chunk_counts_the_set_and_frees():
    conn = text_conn()
    base = used_chunks(conn.engine)
    out = feed(conn, b"set k 0 0 3\r\nabcXY", [14, 2])
    assert out == b"CLIENT_ERROR bad data chunk\r\n"
    assert used_chunks(conn.engine) == base
    assert conn.engine.stats_general()["cmd_set"] == 1


def _oom_conn() -> TextProtocol:
    # -M, two pages: both fill up, so a chunked value gets its header but no data chunk
    conn = text_conn(maxbytes=2 * PAGE, evict_to_free=False)
    for i in range(2):
        conn.receive_data(b"set big%d 0 0 600000\r\n%s\r\n" % (i, b"x" * 600000))
    assert conn.data_to_send() == b"STORED\r\n" * 2
    return conn


def test_text_out_of_memory_during_read_after_the_swallow():
    conn = _oom_conn()
    base = used_chunks(conn.engine)
    req = b"set k 0 0 700000\r\n" + b"y" * 700000 + b"\r\n"
    conn.receive_data(req[:100000])
    assert conn.swallowing
    assert conn.data_to_send() == b""  # memcached sends it only once the rest is read
    conn.receive_data(req[100000:] + b"get k\r\n")
    assert conn.data_to_send() == b"SERVER_ERROR Out of memory during read\r\nEND\r\n"
    assert used_chunks(conn.engine) == base
    assert conn.engine.stats_general()["store_no_memory"] == 0


def test_text_out_of_memory_during_read_noreply_is_silent():
    conn = _oom_conn()
    conn.receive_data(b"set k 0 0 700000 noreply\r\n" + b"y" * 700000 + b"\r\nversion\r\n")
    assert conn.data_to_send().startswith(b"VERSION ")


def test_text_too_large_swallows_and_a_set_drops_the_old_value():
    conn = text_conn()
    conn.receive_data(b"set k 0 0 1\r\nx\r\n")
    conn.data_to_send()
    big = 2 * PAGE
    out = feed(conn, b"set k 0 0 %d\r\n" % big + b"z" * big + b"\r\nget k\r\n", [50, 70000])
    assert out == b"SERVER_ERROR object too large for cache\r\nEND\r\n"
    assert conn.engine.stats_general()["store_too_large"] == 1


# -- binary -------------------------------------------------------------------------------


def bin_conn(**cfg: object) -> BinaryProtocol:
    eng = Engine(EngineConfig(**cfg), clock=ManualClock())  # type: ignore[arg-type]
    return BinaryProtocol(eng, LocalContext(Settings()))


def bin_set(key: bytes, value: bytes, op: int = 0x01, flags: int = 0) -> bytes:
    extras = b"" if op in (0x0E, 0x19) else struct.pack(">II", flags, 0)  # append: none
    body = len(extras) + len(key) + len(value)
    return HDR.pack(0x80, op, len(key), len(extras), 0, 0, body, 0, 0) + extras + key + value


def bin_get(key: bytes) -> bytes:
    return HDR.pack(0x80, 0x00, len(key), 0, 0, 0, len(key), 0, 0) + key


def responses(data: bytes) -> list[tuple[int, int, bytes]]:
    """(opcode, status, value) per response packet."""
    out = []
    pos = 0
    while pos < len(data):
        _m, op, kl, el, _dt, status, body, _o, _c = HDR.unpack_from(data, pos)
        out.append((op, status, data[pos + 24 + el + kl : pos + 24 + body]))
        pos += 24 + body
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([0, 7, 20000, 600000]),
    cuts=st.lists(st.integers(min_value=1, max_value=200000), max_size=8),
)
def test_binary_value_in_pieces_matches_one_feed(size, cuts):
    value = (b"0123456789" * (size // 10 + 1))[:size]
    req = bin_set(b"k", value, flags=9) + bin_get(b"k")
    whole = bin_conn()
    split = bin_conn()
    expect = feed(whole, req, [])
    assert feed(split, req, cuts) == expect
    (op1, st1, _v1), (op2, st2, v2) = responses(expect)
    assert (op1, st1, op2, st2) == (0x01, 0, 0x00, 0)
    assert v2 == value
    assert used_chunks(split.engine) == used_chunks(whole.engine)


def test_binary_close_mid_value_frees_the_held_item():
    conn = bin_conn()
    base = used_chunks(conn.engine)
    req = bin_set(b"k", b"v" * 700000)
    conn.receive_data(req[:300000])
    assert conn.reading_block
    assert used_chunks(conn.engine) > base
    conn.connection_lost()
    assert used_chunks(conn.engine) == base


def test_binary_too_large_set_uncounted_but_unlinks():
    conn = bin_conn()
    conn.receive_data(bin_set(b"k", b"old") + bin_set(b"a", b"old"))
    conn.data_to_send()
    big = b"z" * (2 * PAGE)
    conn.receive_data(bin_set(b"k", big, op=0x11) + bin_set(b"a", big, op=0x0E))  # SETQ, APPEND
    conn.receive_data(bin_get(b"k") + bin_get(b"a"))
    got = responses(conn.data_to_send())
    assert [(op, status) for op, status, _v in got] == [(0x11, 3), (0x0E, 3), (0, 1), (0, 0)]
    assert conn.engine.stats_general()["store_too_large"] == 0


# -- meta ms ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([0, 9, 20000, 600000]),
    cuts=st.lists(st.integers(min_value=1, max_value=200000), max_size=8),
    flags=st.sampled_from([b"T0 F3", b"MA N0", b"c k", b"I C1 c"]),
)
def test_ms_value_in_pieces_matches_one_feed(size, cuts, flags):
    value = (b"qwertyuiop" * (size // 10 + 1))[:size]
    req = b"set k 0 0 2\r\nab\r\nms k %d %s\r\n%s\r\nmg k v f\r\n" % (size, flags, value)
    whole = text_conn()
    split = text_conn()
    expect = feed(whole, req, [])
    assert feed(split, req, cuts) == expect
    assert used_chunks(split.engine) == used_chunks(whole.engine)


def test_ms_close_mid_value_frees_the_held_item():
    conn = text_conn()
    base = used_chunks(conn.engine)
    conn.receive_data(b"ms k 700000 T0\r\n" + b"v" * 1000)
    assert used_chunks(conn.engine) > base
    conn.connection_lost()
    assert used_chunks(conn.engine) == base


def test_ms_refused_append_drops_the_old_item():
    # memcached 1.6.18's process_mset_command unlinks on a failed alloc whatever the mode
    conn = text_conn()
    big = 2 * PAGE
    req = b"set k 0 0 1\r\nx\r\nms k %d MA\r\n" % big + b"z" * big + b"\r\nmg k v\r\n"
    out = feed(conn, req, [30, 100000])
    assert out == b"STORED\r\nSERVER_ERROR object too large for cache\r\nEN\r\n"


def test_binary_out_of_memory_during_read():
    conn = bin_conn(maxbytes=2 * PAGE, evict_to_free=False)
    conn.receive_data(bin_set(b"a", b"x" * 600000) + bin_set(b"b", b"x" * 600000))
    assert [s for _op, s, _v in responses(conn.data_to_send())] == [0, 0]
    base = used_chunks(conn.engine)
    req = bin_set(b"k", b"y" * 700000)
    conn.receive_data(req[:200000])
    assert conn.data_to_send() == b""  # sent once the rest of the value is swallowed
    conn.receive_data(req[200000:] + bin_get(b"k"))
    got = responses(conn.data_to_send())
    # as memcached 1.6.18 answers it: ENOMEM with conn_nread's own text
    assert got == [(0x01, 0x82, b"Out of memory during read"), (0x00, 1, b"Not found")]
    assert used_chunks(conn.engine) == base
