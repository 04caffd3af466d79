"""LRU crawler: expired reclaim, metadump, replies and autocrawl scheduling.

Everything runs on the engine's ManualClock and is driven by explicit slices; the
differential tests compare metadump lines with a real memcached 1.6.18.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.helpers.wire import request, stats

from slabcache.engine import Engine, StoreMode
from slabcache.engine.crawler import CrawlResult

SET = StoreMode.SET
MAX_SLICES = 100_000


def drive_crawler(engine: Engine) -> None:
    """Run only the crawler's slices until it is idle (the maintainer stays out of the way)."""
    for _ in range(MAX_SLICES):
        if not engine.crawler.run(500):
            return
    raise AssertionError("crawler never went idle")


def drain(engine: Engine) -> None:
    """All background work (hash growth, maintainer, mover, crawler) until idle."""
    for _ in range(MAX_SLICES):
        if not engine.run_background(500):
            return
    raise AssertionError("background work never went idle")


def item_stat(engine: Engine, cls: int, name: str) -> int:
    return dict(engine.stats_items()).get(f"items:{cls}:{name}", 0)


LINE = re.compile(
    rb"^key=(\S+) exp=(-1|\d+) la=(\d+) cas=(\d+) fetch=(yes|no) cls=(\d+) size=(\d+)\n$"
)


def _dump(engine: Engine, ids: str = "all") -> list[bytes]:
    result = engine.lru_crawler_metadump(ids)
    assert not isinstance(result, CrawlResult), result
    return list(result)


def _fields(line: bytes) -> dict[str, str]:
    m = LINE.match(line)
    assert m, line
    names = ("key", "exp", "la", "cas", "fetch", "cls", "size")
    return dict(zip(names, (g.decode() for g in m.groups()), strict=True))


def test_crawl_reclaims_expired_and_keeps_live(make_engine) -> None:
    engine, clock = make_engine()
    for i in range(20):
        engine.store(SET, b"short%d" % i, 0, 10, b"v")
    for i in range(7):
        engine.store(SET, b"forever%d" % i, 0, 0, b"v")
    for i in range(5):
        engine.store(SET, b"long%d" % i, 0, 1000, b"v")
    assert engine.get(b"short0") is not None  # fetched: not counted as unfetched later
    clock.advance(11)  # exptime < now (strict) for the short ones
    assert engine.lru_crawler_crawl("1") is CrawlResult.OK
    assert engine.stats_general()["lru_crawler_running"] == 1
    drive_crawler(engine)
    g = engine.stats_general()
    assert g["lru_crawler_running"] == 0
    assert g["crawler_reclaimed"] == 20
    assert g["crawler_items_checked"] == 32
    assert g["expired_unfetched"] == 19
    assert g["curr_items"] == 12
    assert g["reclaimed"] == 0  # the tail pull's counter is not the crawler's
    assert item_stat(engine, 1, "crawler_reclaimed") == 20
    assert item_stat(engine, 1, "crawler_items_checked") == 32
    assert item_stat(engine, 1, "number") == 12
    for i in range(7):
        assert engine.get(b"forever%d" % i) is not None
    for i in range(5):
        assert engine.get(b"long%d" % i) is not None


def test_crawl_boundary_is_strict(make_engine) -> None:
    engine, clock = make_engine()
    engine.store(SET, b"edge", 0, 10, b"v")
    clock.advance(10)  # exptime == now: the crawler keeps it (get would not)
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    drive_crawler(engine)
    assert engine.stats_general()["crawler_reclaimed"] == 0
    assert engine.stats_general()["curr_items"] == 1


def test_crawl_reclaims_flushed_without_unfetched(make_engine) -> None:
    engine, clock = make_engine()
    for i in range(10):
        engine.store(SET, b"k%d" % i, 0, 0, b"value")
    clock.advance(2)
    engine.flush_all(0)
    clock.advance(1)
    engine.store(SET, b"after", 0, 0, b"value")
    assert engine.lru_crawler_crawl("1") is CrawlResult.OK
    drive_crawler(engine)
    g = engine.stats_general()
    assert g["crawler_reclaimed"] == 10
    assert g["expired_unfetched"] == 0
    assert g["curr_items"] == 1
    assert engine.get(b"after") is not None


def test_crawl_tocrawl_limits_items_per_list(make_engine) -> None:
    engine, clock = make_engine()
    for i in range(10):
        engine.store(SET, b"k%d" % i, 0, 1, b"v")
    clock.advance(5)
    assert engine.lru_crawler_tocrawl(3)
    assert engine.lru_crawler_crawl("1") is CrawlResult.OK
    drive_crawler(engine)
    # 3 per sub-LRU: every item sits in one list, so only 3 were visited
    assert engine.stats_general()["crawler_items_checked"] == 3
    assert engine.stats_general()["crawler_reclaimed"] == 3


def test_crawl_replies(make_engine) -> None:
    engine, _clock = make_engine()
    engine.store(SET, b"k", 0, 0, b"v")
    for bad in ("0", "64", "99", "-1", "1,x", "x"):
        assert engine.lru_crawler_crawl(bad) is CrawlResult.BADCLASS, bad
    assert engine.lru_crawler_crawl(",") is CrawlResult.NOTSTARTED
    assert engine.lru_crawler_crawl("hash") is CrawlResult.ERROR
    starts = engine.stats_general()["lru_crawler_starts"]
    assert engine.lru_crawler_crawl("1,2") is CrawlResult.OK
    assert engine.lru_crawler_crawl("all") is CrawlResult.BUSY
    assert engine.lru_crawler_metadump("all") is CrawlResult.BUSY
    assert engine.stats_general()["lru_crawler_starts"] == starts + 1
    drive_crawler(engine)
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    drive_crawler(engine)
    assert engine.lru_crawler_crawl([1, 63]) is CrawlResult.OK


def test_crawler_disabled_and_enable(make_engine) -> None:
    engine, _clock = make_engine(lru_crawler=False)
    assert engine.lru_crawler_crawl("all") is CrawlResult.DISABLED
    assert engine.lru_crawler_metadump("all") is CrawlResult.DISABLED
    assert "lru_crawler_running" not in engine.stats_general()
    assert engine.lru_crawler_enable() is True
    assert engine.lru_crawler_enable() is False  # memcached: "failed to start"
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    assert engine.lru_crawler_disable() is True
    assert engine.lru_crawler_disable() is True
    assert engine.lru_crawler_crawl("all") is CrawlResult.DISABLED


def test_sleep_and_tocrawl_settings(make_engine) -> None:
    engine, _clock = make_engine()
    assert engine.lru_crawler_sleep(2_000_000) is False
    assert engine.lru_crawler_sleep(-1) is False
    assert engine.lru_crawler_sleep(1_000_000) is True
    assert engine.lru_crawler_sleep(0) is True
    assert engine.stats_settings()["lru_crawler_sleep"] == 0
    assert engine.lru_crawler_tocrawl(100) is True
    assert engine.stats_settings()["lru_crawler_tocrawl"] == 100


def test_sleep_paces_crawler_slices(make_engine) -> None:
    engine, clock = make_engine()
    for i in range(2500):
        engine.store(SET, b"s%d" % i, 0, 1, b"v")
    clock.advance(5)
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    # lru_crawler_sleep (100 us by default) caps a slice at 1000 items and asks for a pause
    assert engine.crawler.run(5000) == 1000
    assert engine.crawler.pause_us == 100
    assert engine.lru_crawler_sleep(0)
    assert engine.crawler.run(5000) > 1000  # unpaced: the whole budget
    drive_crawler(engine)
    assert engine.crawler.pause_us == 0
    assert engine.stats_general()["crawler_reclaimed"] == 2500


def test_metadump_format(make_engine) -> None:
    engine, clock = make_engine()
    started = clock.process_started
    engine.store(SET, b"plain", 0, 0, b"hello")
    engine.store(SET, "ключ/%~._-".encode(), 5, 100, b"xy")
    set_at = clock.now
    clock.advance(3)
    assert engine.get(b"plain") is not None
    lines = _dump(engine)
    assert all(line.endswith(b"\n") and not line.endswith(b"\r\n") for line in lines)
    by_key = {f["key"]: f for f in map(_fields, lines)}
    assert set(by_key) == {"plain", "%D0%BA%D0%BB%D1%8E%D1%87%2F%25~._-"}
    plain = by_key["plain"]
    assert plain == {
        "key": "plain",
        "exp": "-1",
        "la": str(started + set_at),  # a first hit does not update `time`
        "cas": "1",
        "fetch": "yes",
        "cls": "1",
        "size": str(59 + 5 + 5),
    }
    other = by_key["%D0%BA%D0%BB%D1%8E%D1%87%2F%25~._-"]
    assert other["exp"] == str(started + set_at + 100)
    assert other["fetch"] == "no"
    assert other["cas"] == "2"
    assert other["size"] == str(63 + len("ключ/%~._-".encode()) + 2)
    assert urllib.parse.unquote_to_bytes(other["key"]) == "ключ/%~._-".encode()


def test_metadump_sizes_and_classes_follow_the_class_table(make_engine) -> None:
    engine, _clock = make_engine()
    probes = [(b"k000000001", 0, 27, 1, 96), (b"k000000002", 0, 28, 2, 97)]
    probes += [(b"kb", 0, 100, 4, 161), (b"kc", 0, 500, 9, 561), (b"kg", 0, 100000, 32, 100061)]
    probes += [(b"big1", 0, 600000, 39, 600063)]
    for key, flags, vlen, _cls, _size in probes:
        engine.store(SET, key, flags, 0, b"x" * vlen)
    got = {f["key"]: (int(f["cls"]), int(f["size"])) for f in map(_fields, _dump(engine))}
    assert got == {key.decode(): (cls, size) for key, _f, _v, cls, size in probes}


def test_metadump_skips_dead_items_and_counts_checked(make_engine) -> None:
    engine, clock = make_engine()
    engine.store(SET, b"dies", 0, 5, b"v")
    engine.store(SET, b"lives", 0, 0, b"v")
    clock.advance(6)
    keys = [_fields(line)["key"] for line in _dump(engine, "1")]
    assert keys == ["lives"]
    assert engine.stats_general()["crawler_items_checked"] == 2
    assert engine.stats_general()["crawler_reclaimed"] == 0  # metadump never unlinks
    assert engine.stats_general()["lru_crawler_running"] == 0
    clock.advance(1)
    engine.flush_all(0)
    clock.advance(1)
    assert _dump(engine, "all") == []


def test_metadump_hash_lists_the_same_items(make_engine) -> None:
    engine, _clock = make_engine()
    for i in range(300):
        engine.store(SET, b"key:%d" % i, i % 3, 0, b"v" * (i % 700))
    by_lru = sorted(_dump(engine, "all"))
    checked = engine.stats_general()["crawler_items_checked"]
    by_hash = sorted(_dump(engine, "hash"))
    assert len(by_lru) == 300
    assert by_lru == by_hash
    # the hash walk uses no per-LRU crawler, so nothing is counted as checked
    assert engine.stats_general()["crawler_items_checked"] == checked


@pytest.mark.parametrize("grow_at", [0, 5, 40])
def test_metadump_hash_sees_each_item_once_while_the_table_grows(make_engine, grow_at) -> None:
    engine, _clock = make_engine(hashpower_init=4)  # 16 buckets: grows past 24 items
    keys = {b"g%04d" % i for i in range(60)}
    for key in sorted(keys):
        engine.store(SET, key, 0, 0, b"v")
    idx = engine._index
    if grow_at == 0:
        assert idx.start_expand()  # before the dump: the walk covers old and new tables
        idx.expand_step(engine._hash, 3)
        assert idx.expanding
    stream = engine.lru_crawler_metadump("hash")
    seen: list[str] = []
    for n, line in enumerate(stream):
        seen.append(_fields(line)["key"])
        if n == grow_at and not idx.expanding:
            assert idx.start_expand()  # what engine.tick() does past 1.5 items per bucket
        if idx.expanding:
            idx.expand_step(engine._hash, 1)  # buckets move between the dump's steps
    assert sorted(seen) == sorted(k.decode() for k in keys)
    assert not engine.crawler.running


def test_metadump_is_capped_at_list_size_at_start(make_engine) -> None:
    engine, _clock = make_engine()
    for i in range(50):
        engine.store(SET, b"old%d" % i, 0, 0, b"v")
    it = iter(engine.lru_crawler_metadump("1"))
    first = next(it)
    assert engine.lru_crawler_crawl("1") is CrawlResult.BUSY  # a metadump is running
    for i in range(50):
        engine.store(SET, b"new%d" % i, 0, 0, b"v")
    rest = list(it)
    keys = {_fields(line)["key"] for line in [first, *rest]}
    assert keys == {f"old{i}" for i in range(50)}
    assert engine.lru_crawler_crawl("1") is CrawlResult.OK


def test_metadump_abandoned_iterator_releases_the_crawler(make_engine) -> None:
    engine, _clock = make_engine()
    for i in range(20):
        engine.store(SET, b"k%d" % i, 0, 0, b"v")
    it = iter(engine.lru_crawler_metadump("all"))
    next(it)
    it.close()  # the connection went away mid-dump
    assert engine.stats_general()["lru_crawler_running"] == 0
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    drive_crawler(engine)
    assert len(_dump(engine)) == 20


def test_metadump_bad_class(make_engine) -> None:
    engine, _clock = make_engine()
    assert engine.lru_crawler_metadump("99") is CrawlResult.BADCLASS
    assert engine.lru_crawler_metadump("0") is CrawlResult.BADCLASS


def _tick_seconds(engine: Engine, clock, seconds: int) -> list[int]:
    """Tick once per clock second, crawling after each; the seconds at which crawls started."""
    started = []
    for _ in range(seconds):
        clock.advance(1)
        before = engine.stats_general()["lru_crawler_starts"]
        engine.tick()
        if engine.stats_general()["lru_crawler_starts"] != before:
            started.append(clock.now)
        drive_crawler(engine)
    return started


def test_autocrawl_at_startup(make_engine) -> None:
    engine, clock = make_engine()
    for i in range(30):
        engine.store(SET, b"t%d" % i, 0, 30, b"v")
    engine.store(SET, b"forever", 0, 0, b"v")
    engine.tick()  # the first check crawls every list once
    g = engine.stats_general()
    assert g["lru_crawler_starts"] == 1
    assert g["lru_crawler_running"] == 1
    drive_crawler(engine)
    g = engine.stats_general()
    assert g["lru_crawler_running"] == 0
    assert g["crawler_items_checked"] == 31
    assert g["crawler_reclaimed"] == 0
    # items expiring within the minute keep the wait at 0 (+5 s): they are reclaimed by the
    # crawler within seconds of expiring, without any get or tail pull
    expires_at = clock.now + 30
    _tick_seconds(engine, clock, 30 + 8)
    assert clock.now > expires_at + 6
    g = engine.stats_general()
    assert g["crawler_reclaimed"] == 30
    assert g["expired_unfetched"] == 30
    assert g["curr_items"] == 1


def test_autocrawl_backs_off_a_minute_per_idle_run(make_engine) -> None:
    engine, clock = make_engine()
    engine.tick()
    drive_crawler(engine)
    starts = _tick_seconds(engine, clock, 3 * 3600)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # nothing reclaimable: every finished run adds a minute to the wait; each gap is the
    # wait + 5 s retry + the second it takes to notice the finished run + 1 (strict ">")
    assert gaps == [60 * k + 7 for k in range(2, len(gaps) + 2)]


def test_autocrawl_wait_is_capped_at_an_hour(make_engine) -> None:
    engine, clock = make_engine()
    starts = []
    for _ in range(48 * 60):  # two days, checked once per (coarse) minute
        before = engine.stats_general()["lru_crawler_starts"]
        engine.tick()
        if engine.stats_general()["lru_crawler_starts"] != before:
            starts.append(clock.now)
        drive_crawler(engine)
        clock.advance(60)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == sorted(gaps)
    assert gaps[-1] == gaps[-2] == gaps[-3]
    assert 3600 + 5 <= gaps[-1] <= 3600 + 5 + 2 * 60


def test_manual_crawl_during_autocrawl_is_busy_and_blocks_autocrawl(make_engine) -> None:
    engine, clock = make_engine()
    for i in range(10):
        engine.store(SET, b"k%d" % i, 0, 50, b"v")  # keeps the autocrawl wait at 0
    engine.tick()
    assert engine.stats_general()["lru_crawler_running"] == 1
    busy_at = clock.now
    assert engine.lru_crawler_crawl("all") is CrawlResult.BUSY
    drive_crawler(engine)
    # unblocked, the list would be crawled again ~6 s later; the BUSY holds it off 60 s
    starts = _tick_seconds(engine, clock, 80)
    assert starts
    assert starts[0] >= busy_at + 60
    assert starts[0] <= busy_at + 60 + 5


def test_manual_crawl_is_not_counted_in_autocrawl_schedule(make_engine) -> None:
    engine, _clock = make_engine()
    engine.store(SET, b"k", 0, 0, b"v")
    assert engine.lru_crawler_crawl("1") is CrawlResult.OK
    drive_crawler(engine)
    assert engine.stats_general()["lru_crawler_starts"] == 1
    engine.tick()  # autocrawl has never run: every list is due at once
    assert engine.stats_general()["lru_crawler_starts"] == 2


def test_autocrawl_disabled_by_config(make_engine) -> None:
    engine, clock = make_engine(lru_crawler=False)
    engine.store(SET, b"k", 0, 1, b"v")
    for _ in range(10):
        clock.advance(1)
        engine.tick()
        drain(engine)
    assert not engine.crawler.running
    assert engine.crawler.run(100) == 0
    assert engine.stats_general()["crawler_items_checked"] == 0


def test_autocrawl_needs_the_maintainer(make_engine) -> None:
    engine, clock = make_engine(lru_maintainer=False)
    engine.store(SET, b"k", 0, 0, b"v")
    clock.advance(1)
    engine.tick()
    assert engine.stats_general()["lru_crawler_starts"] == 0
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK  # manual crawls still work


def test_tail_pull_blocks_on_marker_for_the_maintainer(make_engine) -> None:
    """A crawl in progress must not let the maintainer's tail pull step over its marker."""
    engine, clock = make_engine()
    for i in range(40):
        engine.store(SET, b"k%d" % i, 0, 2, b"v")
    clock.advance(5)
    assert engine.lru_crawler_crawl("1") is CrawlResult.OK
    drain(engine)  # maintainer and crawler interleaved
    g = engine.stats_general()
    assert g["curr_items"] == 0
    assert g["crawler_reclaimed"] + g["reclaimed"] == 40
    assert g["crawler_reclaimed"] >= 1


def test_reclaimed_memory_is_reused_without_eviction(make_engine) -> None:
    engine, clock = make_engine(maxbytes=2 << 20, slab_automove=0)
    value = b"x" * 900
    n = 0
    while engine.stats_general()["evictions"] == 0 and n < 5000:
        engine.store(SET, b"a%d" % n, 0, 10, value)
        n += 1
    clock.advance(20)
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    drive_crawler(engine)
    evictions = engine.stats_general()["evictions"]
    for i in range(n - 10):
        assert engine.store(SET, b"b%d" % i, 0, 0, value).name == "STORED"
    assert engine.stats_general()["evictions"] == evictions


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    ttls=st.lists(st.sampled_from([0, 1, 5, 30, 120, 4000]), min_size=1, max_size=60),
    advance=st.integers(min_value=0, max_value=200),
)
def test_crawl_reclaims_exactly_the_expired(make_engine, ttls: list[int], advance: int) -> None:
    engine, clock = make_engine()
    for i, ttl in enumerate(ttls):
        engine.store(SET, b"p%d" % i, 0, ttl, b"v" * (i % 90))
    set_at = clock.now
    clock.advance(advance)
    assert engine.lru_crawler_crawl("all") is CrawlResult.OK
    drive_crawler(engine)
    expired = {i for i, ttl in enumerate(ttls) if ttl and set_at + ttl < clock.now}
    assert engine.stats_general()["crawler_reclaimed"] == len(expired)
    assert engine.stats_general()["crawler_items_checked"] == len(ttls)
    dumped = {_fields(line)["key"] for line in _dump(engine)}
    assert dumped == {f"p{i}" for i in range(len(ttls)) if i not in expired}


@pytest.mark.slow
def test_metadump_matches_memcached(make_engine, server_factory) -> None:
    """Same sets on memcached 1.6.18 and on the engine: identical lines up to the clock."""
    keys = [(b"k000000001", 0, 27), (b"k000000003", 1, 23), (b"foo", 0, 5), (b"kb", 0, 100)]
    keys += [("ключ".encode(), 3, 2), (b"a/b%c~d.e_f-g", 0, 1), (b"kh", 0, 400000)]
    keys += [(b"big1", 0, 600000), (b"zz", 9, 10)]
    server = server_factory("memcached")
    sock = server.connect()
    for key, flags, vlen in keys:
        hdr = b"set %s %d 0 %d\r\n" % (key, flags, vlen)
        assert request(sock, hdr + b"x" * vlen + b"\r\n", b"\r\n") == b"STORED\r\n"
    request(sock, b"get foo zz\r\n", b"END\r\n")
    reply = request(sock, b"lru_crawler metadump all\r\n", b"END\r\n")
    assert stats(sock)["curr_items"] == str(len(keys))
    sock.close()
    theirs = [line + b"\n" for line in reply[: -len(b"END\r\n")].split(b"\n") if line]

    engine, _clock = make_engine()
    for key, flags, vlen in keys:
        engine.store(SET, key, flags, 0, b"x" * vlen)
    engine.get(b"foo")
    engine.get(b"zz")
    ours = _dump(engine)

    def norm(lines: list[bytes]) -> list[bytes]:
        return sorted(re.sub(rb" la=\d+", b" la=T", line) for line in lines)

    assert len(theirs) == len(keys)
    assert norm(ours) == norm(theirs)
