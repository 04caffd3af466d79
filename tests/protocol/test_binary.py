"""Byte-level tests of the binary protocol codec: every opcode, status, quiet variant,
protocol error and framing case, on the real engine with its manual clock."""

from __future__ import annotations

import struct

import pytest

from slabcache.protocol import binary as b
from slabcache.protocol.binary import BinaryProtocol
from slabcache.protocol.context import LocalContext
from slabcache.protocol.negotiate import NegotiatingProtocol
from slabcache.settings import Settings
from tests.protocol.conftest import make_engine

HDR = struct.Struct(">BBHBBHIIQ")


def pkt(op: int, key: bytes = b"", extras: bytes = b"", value: bytes = b"", opaque: int = 0,
        cas: int = 0, magic: int = 0x80) -> bytes:  # fmt: skip
    body = extras + key + value
    return HDR.pack(magic, op, len(key), len(extras), 0, 0, len(body), opaque, cas) + body


def setp(key: bytes, value: bytes, op: int = b.SET, flags: int = 0, exp: int = 0, **kw) -> bytes:
    return pkt(op, key, struct.pack(">II", flags, exp), value, **kw)


def deltap(op: int, key: bytes, delta: int, initial: int = 0, exp: int = 0, **kw) -> bytes:
    return pkt(op, key, struct.pack(">QQI", delta, initial, exp), **kw)


def parse(data: bytes) -> list[dict]:
    out = []
    while data:
        assert len(data) >= 24, data
        magic, op, kl, el, dt, st, bl, opq, cas = HDR.unpack_from(data)
        assert magic == 0x81 and dt == 0
        body = data[24 : 24 + bl]
        assert len(body) == bl
        out.append(dict(op=op, status=st, extras=body[:el], key=body[el : el + kl],
                        value=body[el + kl :], opaque=opq, cas=cas))  # fmt: skip
        data = data[24 + bl :]
    return out


def make(settings: Settings | None = None) -> BinaryProtocol:
    settings = settings or Settings()
    return BinaryProtocol(make_engine(settings), LocalContext(settings))


def talk(conn: BinaryProtocol, data: bytes) -> list[dict]:
    conn.receive_data(data)
    return parse(conn.data_to_send())


@pytest.fixture
def conn() -> BinaryProtocol:
    return make()


def test_set_get_returns_flags_value_and_cas(conn) -> None:
    (r,) = talk(conn, setp(b"k", b"hello", flags=7, opaque=0xDEADBEEF))
    assert (r["op"], r["status"], r["value"], r["opaque"]) == (b.SET, 0, b"", 0xDEADBEEF)
    assert r["cas"] != 0
    (g,) = talk(conn, pkt(b.GET, b"k", opaque=5))
    assert (g["status"], g["extras"], g["key"], g["value"], g["opaque"]) == (
        0, struct.pack(">I", 7), b"", b"hello", 5)  # fmt: skip
    assert g["cas"] == r["cas"]
    (gk,) = talk(conn, pkt(b.GETK, b"k"))
    assert (gk["key"], gk["value"]) == (b"k", b"hello")


def test_misses_and_their_bodies(conn) -> None:
    g, gk = talk(conn, pkt(b.GET, b"nx") + pkt(b.GETK, b"nx"))
    assert (g["status"], g["value"], g["key"]) == (1, b"Not found", b"")
    assert (gk["status"], gk["key"], gk["value"], gk["cas"]) == (1, b"nx", b"", 0)


def test_quiet_gets_send_hits_only_and_noop_ends_the_batch(conn) -> None:
    talk(conn, setp(b"a", b"1"))
    rs = talk(conn, pkt(b.GETQ, b"a", opaque=1) + pkt(b.GETQ, b"x", opaque=2)
              + pkt(b.GETKQ, b"a", opaque=3) + pkt(b.GETKQ, b"y", opaque=4)
              + pkt(b.NOOP, opaque=9))  # fmt: skip
    assert [(r["op"], r["opaque"], r["key"]) for r in rs] == [
        (b.GETQ, 1, b""), (b.GETKQ, 3, b"a"), (b.NOOP, 9, b"")]  # fmt: skip


def test_quiet_stores_suppress_success_but_not_errors(conn) -> None:
    rs = talk(conn, setp(b"a", b"1", op=b.SETQ) + setp(b"a", b"2", op=b.ADDQ)
              + setp(b"z", b"1", op=b.REPLACEQ) + pkt(b.APPENDQ, b"z", value=b"x")
              + pkt(b.DELETEQ, b"z") + pkt(b.NOOP))  # fmt: skip
    assert [(r["op"], r["status"], r["value"]) for r in rs] == [
        (b.ADDQ, 2, b"Data exists for key."), (b.REPLACEQ, 1, b"Not found"),
        (b.APPENDQ, 5, b"Not stored."), (b.DELETEQ, 1, b"Not found"), (b.NOOP, 0, b"")]  # fmt: skip


def test_add_replace_append_prepend(conn) -> None:
    rs = talk(conn, setp(b"a", b"m", op=b.ADD) + setp(b"a", b"m", op=b.ADD)
              + setp(b"a", b"M", op=b.REPLACE) + pkt(b.APPEND, b"a", value=b">")
              + pkt(b.PREPEND, b"a", value=b"<") + pkt(b.GET, b"a"))  # fmt: skip
    assert [r["status"] for r in rs] == [0, 2, 0, 0, 0, 0]
    assert rs[-1]["value"] == b"<M>"
    assert all(r["cas"] for r in rs[:1] + rs[2:])


def test_header_cas_turns_stores_into_cas_operations(conn) -> None:
    (s,) = talk(conn, setp(b"c", b"1"))
    data = setp(b"c", b"2", cas=s["cas"] + 100) + setp(b"c", b"3", cas=s["cas"])
    bad, good, missing = talk(conn, data + setp(b"q", b"1", cas=5))
    assert (bad["status"], good["status"], missing["status"]) == (2, 0, 1)
    assert good["cas"] not in (0, s["cas"])
    (app,) = talk(conn, pkt(b.APPEND, b"c", value=b"x", cas=1))
    assert app["status"] == 2


def test_delete_with_and_without_cas(conn) -> None:
    (s,) = talk(conn, setp(b"d", b"1"))
    bad, good, again = talk(conn, pkt(b.DELETE, b"d", cas=s["cas"] + 1)
                            + pkt(b.DELETE, b"d", cas=s["cas"]) + pkt(b.DELETE, b"d"))  # fmt: skip
    assert (bad["status"], bad["value"]) == (2, b"Data exists for key.")
    assert (good["status"], good["cas"], again["status"]) == (0, 0, 1)


def test_incr_decr_initial_value_and_no_create_exptime(conn) -> None:
    rs = talk(conn, deltap(b.INCR, b"n", 3, initial=5) + deltap(b.INCR, b"n", 3, initial=5)
              + deltap(b.DECR, b"n", 100) + deltap(b.INCR, b"m", 1, 5, exp=0xFFFFFFFF)
              + pkt(b.GET, b"n"))  # fmt: skip
    vals = [struct.unpack(">Q", r["value"])[0] if r["status"] == 0 and r["op"] != b.GET else None
            for r in rs]  # fmt: skip
    assert vals[:3] == [5, 8, 0]
    assert (rs[3]["status"], rs[3]["value"]) == (1, b"Not found")
    assert rs[4]["value"] == b"0"
    assert all(r["cas"] for r in rs[:3])


def test_incr_wraps_and_rejects_non_numeric_and_cas_mismatch(conn) -> None:
    talk(conn, setp(b"n", b"18446744073709551615") + setp(b"s", b"abc"))
    w, nn = talk(conn, deltap(b.INCR, b"n", 2) + deltap(b.INCR, b"s", 1))
    assert struct.unpack(">Q", w["value"])[0] == 1
    assert (nn["status"], nn["value"]) == (6, b"Non-numeric server-side value for incr or decr")
    (mm,) = talk(conn, deltap(b.INCR, b"n", 1, cas=w["cas"] + 7))
    assert mm["status"] == 2
    assert talk(conn, deltap(b.INCRQ, b"n", 1) + pkt(b.NOOP))[0]["op"] == b.NOOP


def test_touch_gat_gatk_and_quiet_gats(conn) -> None:
    talk(conn, setp(b"t", b"val", flags=3))
    exp = struct.pack(">I", 100)
    t, tm, g, gk, nop = talk(conn, pkt(b.TOUCH, b"t", exp) + pkt(b.TOUCH, b"x", exp)
                             + pkt(b.GAT, b"t", exp) + pkt(b.GATK, b"t", exp)
                             + pkt(b.GATQ, b"x", exp) + pkt(b.GATKQ, b"x", exp)
                             + pkt(b.NOOP))  # fmt: skip
    assert (t["status"], t["extras"], t["value"]) == (0, struct.pack(">I", 3), b"")
    assert (tm["status"], tm["value"]) == (1, b"Not found")
    assert (g["value"], gk["key"], gk["value"], nop["op"]) == (b"val", b"t", b"val", b.NOOP)


def test_touch_expires_on_the_engine_clock() -> None:
    conn = make()
    talk(conn, setp(b"t", b"v"))
    talk(conn, pkt(b.TOUCH, b"t", struct.pack(">I", 2)))
    conn.engine.clock.advance(3)
    assert talk(conn, pkt(b.GET, b"t"))[0]["status"] == 1


def test_flush_with_delay_and_quiet_flush(conn) -> None:
    talk(conn, setp(b"a", b"1"))
    f, g = talk(conn, pkt(b.FLUSH, extras=struct.pack(">I", 10)) + pkt(b.GET, b"a"))
    assert (f["status"], g["status"]) == (0, 0)
    conn.engine.clock.advance(11)
    assert talk(conn, pkt(b.GET, b"a"))[0]["status"] == 1
    talk(conn, setp(b"a", b"1"))
    (nop, g) = talk(conn, pkt(b.FLUSHQ) + pkt(b.NOOP) + pkt(b.GET, b"a"))
    assert (nop["op"], g["status"]) == (b.NOOP, 1)


def test_flush_disabled_is_an_auth_error() -> None:
    s = Settings()
    s.flush_enabled = False
    (r,) = talk(make(s), pkt(b.FLUSH))
    assert (r["status"], r["value"]) == (0x20, b"Auth failure.")


def test_version_noop_quit_and_quitq(conn) -> None:
    v, n = talk(conn, pkt(b.VERSION_OP, opaque=3) + pkt(b.NOOP, opaque=4))
    assert (v["value"], v["opaque"], n["opaque"]) == (b"1.6.18", 3, 4)
    (q,) = talk(conn, pkt(b.QUIT) + pkt(b.NOOP))
    assert q["op"] == b.QUIT and conn.closing
    quiet = make()
    assert talk(quiet, pkt(b.QUITQ) + pkt(b.NOOP)) == [] and quiet.closing


def test_stats_groups(conn) -> None:
    rs = talk(conn, pkt(b.STAT, opaque=8))
    names = [r["key"] for r in rs]
    assert names[:3] == [b"pid", b"uptime", b"time"] and b"cmd_get" in names
    assert rs[-1]["key"] == b"" and rs[-1]["value"] == b"" and all(r["opaque"] == 8 for r in rs)
    settings = talk(conn, pkt(b.STAT, b"settings"))
    assert settings[0]["key"] == b"maxbytes" and settings[-1]["key"] == b""
    for group in (b"items", b"slabs", b"sizes"):
        assert talk(conn, pkt(b.STAT, group))[-1]["key"] == b""
    assert [(r["key"], r["value"]) for r in talk(conn, pkt(b.STAT, b"reset"))] == [(b"", b"")]
    for bad in (b"conns", b"bogus", b"detail x", b"cachedump 1 1"):
        (r,) = talk(conn, pkt(b.STAT, bad))
        assert (r["status"], r["value"]) == (1, b"Not found")


def test_stats_detail_on_dump_and_sizes_enable(conn) -> None:
    on, dump = talk(conn, pkt(b.STAT, b"detail on")), None
    assert [r["key"] for r in on] == [b""]
    talk(conn, pkt(b.GET, b"p:1"))
    dump = talk(conn, pkt(b.STAT, b"detail dump"))
    assert dump[0]["key"] == b"detailed" and dump[0]["value"].startswith(b"PREFIX p get 1")
    (en,) = talk(conn, pkt(b.STAT, b"sizes_enable"))  # no terminator, as memcached
    assert en["key"] == b"sizes_status"


def test_stats_count_binary_commands(conn) -> None:
    talk(conn, setp(b"a", b"1") + pkt(b.GET, b"a") + pkt(b.GETQ, b"b")
         + pkt(b.TOUCH, b"a", struct.pack(">I", 0)))  # fmt: skip
    stats = {r["key"]: r["value"] for r in talk(conn, pkt(b.STAT))}
    # a binary TOUCH is not a get (memcached 1.6.18)
    assert (stats[b"cmd_get"], stats[b"get_hits"], stats[b"get_misses"]) == (b"2", b"1", b"1")
    assert (stats[b"cmd_set"], stats[b"cmd_touch"], stats[b"touch_hits"]) == (b"1", b"1", b"1")


@pytest.mark.parametrize(
    "packet",
    [
        pkt(b.GET),  # no key
        pkt(b.GET, b"k", extras=b"1234"),
        pkt(b.SET, b"k", extras=b"1234", value=b"v"),
        pkt(b.SET, extras=bytes(8), value=b"v"),
        pkt(b.DELETE, b"k", value=b"v"),
        pkt(b.INCR, b"k", extras=bytes(8)),
        pkt(b.APPEND, b"k", extras=b"1234", value=b"v"),
        pkt(b.FLUSH, extras=b"ab"),
        pkt(b.VERSION_OP, value=b"x"),
        pkt(b.NOOP, key=b"x"),
        pkt(b.QUIT, value=b"x"),
        pkt(b.STAT, extras=b"1234"),
        pkt(b.TOUCH, b"k"),
        pkt(b.GET, b"k" * 251),
    ],
)
def test_protocol_errors_answer_einval_and_close(packet: bytes) -> None:
    conn = make()
    (r,) = talk(conn, packet + pkt(b.NOOP))
    assert (r["status"], r["value"], r["op"]) == (4, b"Invalid arguments", packet[1])
    assert conn.closing


def test_body_shorter_than_key_is_unknown_command_and_close(conn) -> None:
    data = HDR.pack(0x80, b.GET, 5, 0, 0, 0, 3, 0, 0) + b"abcde" + pkt(b.NOOP)
    (r,) = talk(conn, data)
    assert (r["status"], r["value"]) == (0x81, b"Unknown command") and conn.closing


def test_bad_magic_closes_silently(conn) -> None:
    rs = talk(conn, pkt(b.NOOP) + b"\x81" + bytes(23) + pkt(b.NOOP))
    assert [r["op"] for r in rs] == [b.NOOP] and conn.closing


@pytest.mark.parametrize("op", [b.VERBOSITY, 0x30, 0x3C, 0x40, 0xFF])
def test_unknown_opcodes_skip_exactly_their_packet(conn, op: int) -> None:
    # memcached 1.6.18 skips bodylen bytes *after* extras and key here (b.MISFRAMED)
    data = pkt(op, b"key", extras=b"1234", value=b"vv", opaque=1) + pkt(b.VERSION_OP, opaque=2)
    u, v = talk(conn, data)
    assert (u["op"], u["status"], u["value"], u["opaque"]) == (op, 0x81, b"Unknown command", 1)
    assert (v["value"], v["opaque"]) == (b"1.6.18", 2) and not conn.closing


def test_stat_touch_with_trailing_value_keep_framing(conn) -> None:
    talk(conn, setp(b"t", b"v"))
    rs = talk(conn, pkt(b.TOUCH, b"t", struct.pack(">I", 0), value=b"zz") + pkt(b.NOOP))
    assert [r["op"] for r in rs] == [b.TOUCH, b.NOOP]


def test_sasl_without_dash_s_is_unknown(conn) -> None:
    rs = talk(conn, pkt(b.SASL_LIST) + pkt(b.SASL_AUTH, b"PLAIN", value=b"\0a\0b") + pkt(b.NOOP))
    assert [(r["op"], r["status"]) for r in rs] == [(0x20, 0x81), (0x21, 0x81), (b.NOOP, 0)]


def test_value_too_large_is_swallowed_and_set_drops_the_old_item(conn) -> None:
    talk(conn, setp(b"big", b"old"))
    big = setp(b"big", b"x" * (1024 * 1024 + 10))
    conn.receive_data(big[:5000])  # the value is skipped as it arrives, never buffered
    # memcached sends E2BIG only once the value is swallowed
    assert conn.data_to_send() == b"" and conn.swallowing and not conn.reading_block
    conn.receive_data(big[5000:] + pkt(b.GET, b"big"))
    r, g = parse(conn.data_to_send())
    assert (r["status"], r["value"]) == (3, b"Too large.")
    assert g["status"] == 1 and len(conn._buf) == 0
    assert not conn.swallowing


def test_reading_block_while_a_body_is_awaited(conn) -> None:
    p = setp(b"k", b"hello")
    conn.receive_data(p[:10])  # header incomplete: still reading the command
    assert not conn.reading_block
    conn.receive_data(p[10:30])
    assert conn.reading_block and not conn.swallowing
    (r,) = talk(conn, p[30:])
    assert r["status"] == 0 and not conn.reading_block


def test_incr_creating_its_counter_counts_no_set(conn) -> None:
    (r,) = talk(conn, deltap(b.INCR, b"n", 5, 42, exp=100))
    assert r["status"] == 0 and struct.unpack(">Q", r["value"])[0] == 42
    g = conn.engine.stats_general()
    assert g["cmd_set"] == 0 and g["incr_misses"] == 0 and g["curr_items"] == 1
    (r,) = talk(conn, deltap(b.INCR, b"n", 5, 42, exp=100))
    assert struct.unpack(">Q", r["value"])[0] == 47


def test_every_split_point_gives_the_same_replies() -> None:
    stream = (setp(b"a", b"hello", opaque=1) + pkt(b.GETKQ, b"a") + deltap(b.INCR, b"n", 1, 9)
              + pkt(0x55, b"kk", value=b"zz") + pkt(b.STAT, b"items") + pkt(b.NOOP))  # fmt: skip
    whole = make()
    whole.receive_data(stream)
    expected = [dict(r, cas=0) for r in parse(whole.data_to_send())]
    for cut in range(1, len(stream)):
        conn = make()
        conn.receive_data(stream[:cut])
        out = conn.data_to_send()
        conn.receive_data(stream[cut:])
        got = [dict(r, cas=0) for r in parse(out + conn.data_to_send())]
        assert got == expected, cut


def test_max_reqs_yields_and_resumes() -> None:
    settings = Settings()
    conn = BinaryProtocol(make_engine(settings), LocalContext(settings), max_reqs=2)
    conn.receive_data(pkt(b.NOOP) * 5)
    assert len(parse(conn.data_to_send())) == 2 and conn.pending
    while conn.pending:
        conn.resume()
    assert len(parse(conn.data_to_send())) == 3


@pytest.mark.parametrize(
    ("mode", "first", "kind"),
    [("auto", pkt(b.VERSION_OP), "binary"), ("auto", b"version\r\n", "ascii"),
     ("ascii", pkt(b.VERSION_OP), "ascii"), ("binary", pkt(b.VERSION_OP), "binary")],
)  # fmt: skip
def test_negotiation_by_first_byte(mode: str, first: bytes, kind: str) -> None:
    s = Settings()
    s.protocol = mode
    conn = NegotiatingProtocol(make_engine(s), LocalContext(s))
    conn.receive_data(first)
    assert conn.protocol == kind
    out = conn.data_to_send()
    if kind == "binary":
        assert parse(out)[0]["value"] == b"1.6.18"
    elif mode == "auto":
        assert out == b"VERSION 1.6.18\r\n"


def test_binary_only_closes_text_clients() -> None:
    s = Settings()
    s.protocol = "binary"
    conn = NegotiatingProtocol(make_engine(s), LocalContext(s))
    conn.receive_data(b"version\r\n")  # like memcached, nothing happens before 24 bytes
    assert not conn.closing
    conn.receive_data(b"version\r\n" * 2)
    assert conn.closing and conn.data_to_send() == b""
