"""-m bounds, eviction accounting, -M out-of-memory behaviour."""

from __future__ import annotations

import random

from slabcache.engine import EngineConfig, StoreMode, StoreResult

PAGE = 1 << 20


def test_mixed_workload_stays_in_budget(make_engine):
    eng, clock = make_engine(maxbytes=4 * PAGE)
    rng = random.Random(7)
    sizes = [10, 100, 500, 3000, 20000]
    stored = 0
    deleted = 0
    for i in range(6000):
        v = rng.choice(sizes)
        key = b"key%d" % rng.randrange(20000)
        ttl = rng.choice([0, 0, 0, 5])
        res = eng.store(StoreMode.SET, key, 0, ttl, b"x" * v)
        assert res is StoreResult.STORED  # every class keeps serving
        stored += 1
        if i % 10 == 0 and eng.delete(b"key%d" % rng.randrange(20000)):
            deleted += 1
        if i % 500 == 0:
            clock.advance(3)
            eng.run_background(500)
    slabs = dict(eng.stats_slabs())
    g = eng.stats_general()
    active = slabs["active_slabs"]
    assert slabs["total_malloced"] <= 4 * PAGE + active * PAGE
    assert g["evictions"] > 0
    # every linked item ends one way: still live, evicted, reclaimed, expired on a lookup,
    # deleted, or replaced by a later set of the same key (the only other unlink here)
    replaced = g["total_items"] - (
        g["curr_items"] + g["evictions"] + g["reclaimed"] + g["get_expired"] + g["delete_hits"]
    )
    assert replaced >= 0
    assert g["total_items"] == stored
    assert g["delete_hits"] == deleted


def test_dash_M(make_engine):
    eng, _ = make_engine(maxbytes=2 * PAGE, evict_to_free=False)
    n = 0
    value = b"v" * 800  # class 11: 1110 chunks per page keeps the zero-hash chain short
    while eng.store(StoreMode.SET, b"k%d" % n, 0, 0, value) is StoreResult.STORED:
        n += 1
    assert n == 2 * 1110
    assert eng.store(StoreMode.SET, b"k0", 0, 0, value) is StoreResult.NO_MEMORY
    assert eng.get(b"k0") is None  # the failed SET unlinked the old value
    g = eng.stats_general()
    assert g["store_no_memory"] == 2 and g["evictions"] == 0
    items = dict(eng.stats_items())
    assert items["items:11:outofmemory"] == 2
    assert items["items:11:direct_reclaims"] == 20
    # a class's first page ignores -m
    assert eng.store(StoreMode.SET, b"other", 0, 0, b"x" * 30) is StoreResult.STORED
    assert dict(eng.stats_slabs())["total_malloced"] == 3 * PAGE


def test_memlimit_lowering_frees_pool_pages(make_engine):
    eng, _ = make_engine(config=EngineConfig(maxbytes=64 * PAGE))
    for _ in range(10):  # as the page mover's reclaim would leave them
        assert eng._arena.new_pool_page()
    assert eng.cache_memlimit(8) == "OK"
    assert eng.stats_general()["slab_global_page_pool"] == 8
    assert dict(eng.stats_slabs())["total_malloced"] == 8 * PAGE


def test_prealloc(make_engine):
    eng, _ = make_engine(config=EngineConfig(maxbytes=64 * PAGE, prealloc=True))
    slabs = dict(eng.stats_slabs())
    assert slabs["active_slabs"] == 39 and slabs["total_malloced"] == 39 * PAGE
    assert eng.cache_memlimit(128).startswith("MEMLIMIT_ADJUST_FAILED")


def test_eviction_reuses_the_evicted_chunk(make_engine):
    # a full class, every item still in HOT (no maintainer run): a new SET forces the HOT
    # tail down to COLD, evicts it there and gets its chunk back from the free list (LIFO)
    eng, _ = make_engine(maxbytes=2 * PAGE)
    value = b"v" * 800  # class 11: 1110 chunks per page
    for n in range(2 * 1110):
        assert eng.store(StoreMode.SET, b"k%d" % n, 0, 0, value) is StoreResult.STORED
    assert eng.stats_general()["evictions"] == 0
    for n in range(3):
        old = eng._index.find(b"k%d" % n, eng._hash(b"k%d" % n))
        new = b"new%d" % n
        assert eng.store(StoreMode.SET, new, 0, 0, value) is StoreResult.STORED
        assert eng.get(b"k%d" % n) is None
        assert eng._index.find(new, eng._hash(new)) == old
    items = dict(eng.stats_items())
    assert items["items:11:evicted"] == 3
    assert items["items:11:moves_to_cold"] == 3
    assert items["items:11:direct_reclaims"] == 6  # move, evict, then the pop: 2 per SET
    assert items["items:11:number_cold"] == 0
    slabs = dict(eng.stats_slabs())
    assert slabs["11:free_chunks"] == 0 and slabs["11:used_chunks"] == 2 * 1110
