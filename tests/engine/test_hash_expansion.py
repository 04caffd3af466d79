"""Hash table growth: triggered by tick(), moved in bounded slices, lookups work throughout."""

from __future__ import annotations

from slabcache.engine import StoreMode


def test_stepped_expansion(make_engine):
    eng, _ = make_engine(hashpower_init=8)
    n = 600
    for i in range(n):
        eng.store(StoreMode.SET, b"key%d" % i, 0, 0, b"v%d" % i)
    g = eng.stats_general()
    assert g["hash_power_level"] == 8 and g["hash_bytes"] == 8 * 256
    eng.tick()
    g = eng.stats_general()
    assert g["hash_is_expanding"] == 1 and g["hash_power_level"] == 9
    assert g["hash_bytes"] == 8 * 512 + 8 * 256
    steps = 0
    while eng.stats_general()["hash_is_expanding"]:
        eng._index.expand_step(eng._hash, 7)
        steps += 1
        if steps % 5 == 0:
            for i in range(0, n, 37):
                assert eng.get(b"key%d" % i)[1] == b"v%d\r\n" % i
            eng.store(StoreMode.SET, b"new%d" % steps, 0, 0, b"x")
            assert eng.delete(b"key%d" % (steps % n)) in (True, False)
    assert steps > 10
    for s in range(5, steps, 5):
        assert eng.get(b"new%d" % s) is not None
    assert eng.stats_general()["hash_bytes"] == 8 * 512


def test_no_hashexpand(make_engine):
    eng, _ = make_engine(hashpower_init=4, hash_expand=False)
    for i in range(100):
        eng.store(StoreMode.SET, b"k%d" % i, 0, 0, b"v")
    eng.tick()
    assert eng.stats_general()["hash_power_level"] == 4
    assert all(eng.get(b"k%d" % i) for i in range(100))
