"""Segmented LRU movement (HOT/WARM/COLD/TEMP) and the flat LRU's 60 s relink."""

from __future__ import annotations

from slabcache.engine import StoreMode
from slabcache.engine.items import COLD_LRU, HOT_LRU, TEMP_LRU, WARM_LRU


def _items(eng):
    return dict(eng.stats_items())


def test_enter_hot_then_juggle_to_cold(make_engine):
    eng, _ = make_engine()
    for i in range(3):
        eng.store(StoreMode.SET, b"k%d" % i, 0, 0, b"v")
    assert all(eng.item_lru(b"k%d" % i) == HOT_LRU for i in range(3))
    eng.run_background(100)
    # a tiny class drains to COLD at once: HOT is limited to 20% of the class's bytes
    assert all(eng.item_lru(b"k%d" % i) == COLD_LRU for i in range(3))
    it = _items(eng)
    assert it["items:1:moves_to_cold"] == 3 and it["items:1:number_cold"] == 3


def test_second_cold_hit_bumps_to_warm_via_maintainer(make_engine):
    eng, _ = make_engine()
    eng.store(StoreMode.SET, b"a", 0, 0, b"v")
    eng.run_background(100)
    assert eng.item_lru(b"a") == COLD_LRU
    eng.get(b"a")  # 1st hit: FETCHED only
    eng.get(b"a")  # 2nd hit: ACTIVE, queued for WARM
    assert eng.item_lru(b"a") == COLD_LRU
    eng.run_background(100)
    assert eng.item_lru(b"a") in (WARM_LRU, COLD_LRU)
    it = _items(eng)
    assert it["items:1:moves_to_warm"] >= 1
    assert it["items:1:hits_to_cold"] == 2


def test_active_hot_item_moves_to_warm(make_engine):
    eng, _ = make_engine()
    eng.store(StoreMode.SET, b"a", 0, 0, b"v")
    eng.get(b"a")
    eng.get(b"a")  # ACTIVE while in HOT
    assert _items(eng)["items:1:hits_to_hot"] == 2
    eng.run_background(100)
    assert _items(eng)["items:1:moves_to_warm"] == 1


def test_temp_lru(make_engine):
    eng, clock = make_engine(temp_lru=True)
    eng.store(StoreMode.SET, b"t1", 0, 30, b"v")
    eng.store(StoreMode.SET, b"t2", 0, 0, b"v")
    eng.store(StoreMode.SET, b"t3", 0, 3600, b"v")
    assert eng.item_lru(b"t1") == TEMP_LRU
    assert eng.item_lru(b"t2") == HOT_LRU and eng.item_lru(b"t3") == HOT_LRU
    assert _items(eng)["items:1:number_temp"] == 1
    eng.run_background(100)
    assert eng.item_lru(b"t1") == TEMP_LRU  # never moved
    clock.advance(32)
    eng.run_background(100)
    it = _items(eng)
    assert it["items:1:number_temp"] == 0 and it["items:1:reclaimed"] == 1


def test_flat_relink_after_60s(make_engine):
    eng, clock = make_engine(lru_maintainer=False, lru_segmented=False)
    eng.store(StoreMode.SET, b"a", 0, 0, b"v")
    eng.store(StoreMode.SET, b"b", 0, 0, b"v")
    assert eng.item_lru(b"a") == COLD_LRU
    assert eng.cachedump(1, 0)[-1].startswith(b"ITEM a ")  # a is at the tail
    clock.advance(30)
    eng.get(b"a")
    assert eng.cachedump(1, 0)[-1].startswith(b"ITEM a ")  # < 60 s: no relink
    clock.advance(31)
    eng.get(b"a")
    assert eng.cachedump(1, 0)[0].startswith(b"ITEM a ")  # relinked at the head
    assert "number_hot" not in " ".join(k for k, _ in eng.stats_items())


def test_held_item_is_reflocked_not_freed(make_engine):
    """append holds the old item under its item lock: the tail walk skips it (memcached's
    item_trylock fails) and evicts the next one instead."""
    eng, _ = make_engine(maxbytes=2 << 20, evict_to_free=True)
    value = b"v" * 800
    n = 0
    while dict(eng.stats_slabs()).get("11:total_pages", 0) < 2 or n < 2220:
        eng.store(StoreMode.SET, b"k%d" % n, 0, 0, value)
        n += 1
    eng.run_background(1000)
    # the COLD tail is the oldest key; appending to it allocates while it is held
    tail = eng.cachedump(11, 0)[-1].split()[1]
    from slabcache.engine import StoreResult

    res = eng.store(StoreMode.APPEND, tail, 0, 0, b"x" * 20)
    items = _items(eng)
    assert items["items:11:lrutail_reflocked"] == 0
    if eng._hash(b"a") == eng._hash(b"b"):
        # every key under the one item lock: nothing can be evicted, the old value stays
        assert res is StoreResult.NOT_STORED
        assert eng.get(tail)[1] == value + b"\r\n"
        return
    assert res is StoreResult.STORED
    assert eng.get(tail)[1] == value + b"x" * 20 + b"\r\n"
    assert items["items:11:evicted"] >= 1
