"""Item operations: store modes, CAS, expiry boundaries, flush_all, incr/decr, -C."""

from __future__ import annotations

from slabcache.engine import DeltaResult, StoreMode, StoreResult

S = StoreMode
R = StoreResult


def test_store_modes(make_engine):
    eng, _ = make_engine()
    assert eng.store(S.ADD, b"a", 0, 0, b"1") is R.STORED
    assert eng.store(S.ADD, b"a", 0, 0, b"2") is R.NOT_STORED
    assert eng.store(S.REPLACE, b"b", 0, 0, b"1") is R.NOT_STORED
    assert eng.store(S.REPLACE, b"a", 7, 0, b"3") is R.STORED
    assert eng.get(b"a")[:2] == (7, b"3\r\n")
    assert eng.store(S.APPEND, b"a", 0, 0, b"x") is R.STORED
    assert eng.store(S.PREPEND, b"a", 0, 0, b"y") is R.STORED
    flags, data, _ = eng.get(b"a")
    assert (flags, data) == (7, b"y3x\r\n")  # old flags kept
    assert eng.store(S.APPEND, b"zz", 0, 0, b"x") is R.NOT_STORED
    g = eng.stats_general()
    assert g["cmd_set"] == 7 and g["curr_items"] == 1


def test_cas(make_engine):
    eng, _ = make_engine()
    eng.store(S.SET, b"k", 0, 0, b"v")
    cas = eng.get(b"k")[2]
    assert cas == 1
    assert eng.store(S.CAS, b"k", 0, 0, b"w", cas_in=cas + 5) is R.EXISTS
    assert eng.store(S.CAS, b"k", 0, 0, b"w", cas_in=cas) is R.STORED
    assert eng.get(b"k")[2] == 2
    assert eng.store(S.CAS, b"nope", 0, 0, b"w", cas_in=1) is R.NOT_FOUND
    assert eng.store(S.CAS, b"k", 0, 0, b"w", cas_in=0) is R.EXISTS
    g = eng.stats_general()
    assert (g["cas_hits"], g["cas_badval"], g["cas_misses"]) == (1, 2, 1)


def test_no_cas(make_engine):
    eng, _ = make_engine(use_cas=False)
    eng.store(S.SET, b"k", 0, 0, b"v")
    assert eng.get(b"k")[2] == 0
    assert eng.store(S.CAS, b"k", 0, 0, b"w", cas_in=0) is R.EXISTS
    assert dict(eng.stats_items())["items:1:mem_requested"] == 51 + 1 + 1
    assert eng.sizes_enable() == ("error", "cas_support_disabled")


def test_expiry_boundaries(make_engine):
    eng, clock = make_engine()
    eng.store(S.SET, b"k", 0, 10, b"v")
    clock.advance(9)
    assert eng.get(b"k") is not None
    clock.advance(1)
    assert eng.get(b"k") is None  # exptime <= now on fetch
    assert eng.stats_general()["get_expired"] == 1
    eng.store(S.SET, b"neg", 0, -1, b"v")
    assert eng.get(b"neg") is None
    started = clock.process_started
    eng.store(S.SET, b"abs", 0, started + clock.now + 100, b"v")
    assert eng.get(b"abs") is not None
    eng.store(S.SET, b"old", 0, started, b"v")
    assert eng.get(b"old") is None
    eng.store(S.SET, b"thirty", 0, 30 * 24 * 3600, b"v")
    clock.advance(30 * 24 * 3600 - 1)
    assert eng.get(b"thirty") is not None


def test_touch_and_gat(make_engine):
    eng, clock = make_engine()
    eng.store(S.SET, b"k", 3, 5, b"v")
    assert eng.touch(b"k", 100)
    clock.advance(50)
    assert eng.gat(b"k", 1)[:2] == (3, b"v\r\n")
    clock.advance(1)
    assert eng.get(b"k") is None
    assert not eng.touch(b"k", 1)
    assert eng.gat(b"k", 1) is None
    g = eng.stats_general()
    assert (g["cmd_touch"], g["touch_hits"], g["touch_misses"]) == (4, 2, 2)


def test_flush_all_immediate_and_delayed(make_engine):
    eng, clock = make_engine()
    eng.store(S.SET, b"a", 0, 0, b"1")
    eng.flush_all()
    assert eng.get(b"a") is None
    assert eng.stats_general()["get_flushed"] == 1
    eng.store(S.SET, b"b", 0, 0, b"2")
    assert eng.get(b"b") is not None  # stored after the flush
    eng.flush_all(10)
    clock.advance(5)
    eng.store(S.SET, b"c", 0, 0, b"3")
    assert eng.get(b"b") is not None
    clock.advance(5)
    assert eng.get(b"b") is None
    assert eng.get(b"c") is None  # linked before the flush time
    clock.advance(1)
    eng.store(S.SET, b"d", 0, 0, b"4")
    assert eng.get(b"d") is not None


def test_flush_without_cas(make_engine):
    eng, clock = make_engine(use_cas=False)
    eng.store(S.SET, b"a", 0, 0, b"1")
    eng.flush_all()
    assert eng.get(b"a") is None
    clock.advance(1)
    eng.store(S.SET, b"b", 0, 0, b"1")
    assert eng.get(b"b") is not None


def test_incr_decr(make_engine):
    eng, _ = make_engine()
    eng.store(S.SET, b"n", 5, 0, b"10")
    assert eng.delta(b"n", False, 1) == (DeltaResult.OK, b"9")
    assert eng.get(b"n")[:2] == (5, b"9 \r\n")
    assert eng.delta(b"n", True, 991) == (DeltaResult.OK, b"1000")
    assert eng.get(b"n")[:2] == (5, b"1000\r\n")
    assert eng.delta(b"n", False, 5000) == (DeltaResult.OK, b"0")
    eng.store(S.SET, b"m", 0, 0, b"18446744073709551615")
    assert eng.delta(b"m", True, 2) == (DeltaResult.OK, b"1")
    assert eng.get(b"m")[1] == b"1" + b" " * 19 + b"\r\n"
    eng.store(S.SET, b"w", 0, 0, b"9")
    assert eng.delta(b"w", True, 2**64 - 1) == (DeltaResult.OK, b"8")
    for raw, out in [(b" 12", b"13"), (b"+1", b"2"), (b"12 a", b"13")]:
        eng.store(S.SET, b"p", 0, 0, raw)
        assert eng.delta(b"p", True, 1) == (DeltaResult.OK, out)
    for raw in [b"12a", b"-1", b"abc", b"", b"18446744073709551616"]:
        eng.store(S.SET, b"p", 0, 0, raw)
        assert eng.delta(b"p", True, 1) == (DeltaResult.NON_NUMERIC, None)
    assert eng.delta(b"none", True, 1) == (DeltaResult.NOT_FOUND, None)
    cas_before = eng.get(b"n")[2]
    eng.delta(b"n", True, 1)
    assert eng.get(b"n")[2] > cas_before
    g = eng.stats_general()
    assert g["incr_misses"] == 1 and g["decr_hits"] == 2


def test_delete(make_engine):
    eng, _ = make_engine()
    eng.store(S.SET, b"a", 0, 0, b"1")
    assert eng.delete(b"a")
    assert not eng.delete(b"a")
    g = eng.stats_general()
    assert (g["delete_hits"], g["delete_misses"], g["curr_items"], g["bytes"]) == (1, 1, 0, 0)


def test_many_keys_one_chain(make_engine):
    eng, _ = make_engine()
    for i in range(300):
        assert eng.store(S.SET, b"key%d" % i, i, 0, b"val%d" % i) is R.STORED
    for i in range(0, 300, 2):
        assert eng.delete(b"key%d" % i)
    for i in range(300):
        got = eng.get(b"key%d" % i)
        assert (got is None) if i % 2 == 0 else got[:2] == (i, b"val%d\r\n" % i)


def test_stats_sizes(make_engine):
    eng, _ = make_engine()
    eng.store(S.SET, b"before", 0, 0, b"v")
    assert eng.stats_sizes() == [("sizes_status", "disabled")]
    assert eng.sizes_enable() == ("enabled", None)
    eng.store(S.SET, b"k000000001", 0, 0, b"x" * 28)  # ntotal 97 -> bucket 128
    eng.store(S.SET, b"k", 0, 0, b"x")
    assert eng.stats_sizes() == [("64", 1), ("128", 1)]
    assert eng.sizes_disable() == ("disabled", None)


def test_admin_and_settings(make_engine):
    eng, _ = make_engine()
    assert eng.lru_tune(10, 25, 0.1, 2.0) == "OK"
    assert eng.lru_tune(50, 50, 0.1, 2.0) == "ERROR hot and warm pcts must not exceed 80"
    assert eng.lru_tune(10, 10, 0, 2.0) == "ERROR hot/warm age factors must be greater than 0"
    assert eng.lru_mode("flat") == "OK" and eng.stats_settings()["lru_segmented"] == "no"
    assert eng.lru_temp_ttl(30) == "OK" and eng.stats_settings()["temp_lru"] == "yes"
    assert eng.cache_memlimit(7).startswith("MEMLIMIT_TOO_SMALL")
    assert eng.cache_memlimit(128) == "OK" and eng.stats_general()["limit_maxbytes"] == 128 << 20
    flat, _ = make_engine(lru_maintainer=False, lru_segmented=False)
    assert flat.lru_mode("flat") == "ERROR"


def test_stats_reset(make_engine):
    eng, _ = make_engine()
    eng.store(S.SET, b"a", 0, 0, b"1")
    eng.get(b"a")
    eng.stats_reset()
    g = eng.stats_general()
    assert g["cmd_get"] == 0 and g["get_hits"] == 0 and g["curr_items"] == 1
