"""Random workloads under memory pressure, then a full walk of the engine's structures.

The get/SET fast paths and the eviction loop edit hash chains, LRU lists and free lists in
place; these tests check after every sequence that each structure still agrees with the
others and with the counters, and that a hit always returns the last value stored for
that key (eviction may lose items, never mix them up).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slabcache.engine import Engine, EngineConfig, ManualClock, StoreMode, StoreResult
from slabcache.engine.items import (
    CLSID_MASK,
    H16,
    HDR,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNKED,
    ITEM_LINKED,
    ITEM_SLABBED,
    OFF_FLAGS,
)
from slabcache.engine.lru import NUM_LRUS

SIZES = st.sampled_from([0, 1, 30, 100, 100, 400, 900, 3000, 12000, 70000, 600000])
KEYS = st.integers(0, 150).map(lambda i: b"key:%d" % i)
FLAGS = st.sampled_from([0, 0, 0, 7])
TTLS = st.sampled_from([0, 0, 2])
OPS = st.one_of(
    st.tuples(st.just("set"), KEYS, SIZES, FLAGS, TTLS),
    st.tuples(st.sampled_from(["add", "replace", "append", "prepend"]), KEYS, SIZES),
    st.tuples(st.sampled_from(["get", "get", "get", "delete", "incr", "touch"]), KEYS),
    st.tuples(st.just("advance"), st.integers(1, 3)),
    st.tuples(st.just("background"), st.integers(1, 300)),
    st.tuples(st.just("flush"),),
)  # fmt: skip


def _value(key: bytes, n: int, version: int) -> bytes:
    stamp = b"%s/%d/" % (key, version)
    return (stamp * (n // len(stamp) + 1))[:n]


def check_structures(e: Engine) -> None:
    """Hash chains, LRU lists, free lists and counters agree with each other."""
    mm = e._mm
    idx = e._index
    page = e._arena.page_size
    hashed: set[int] = set()
    for table in (idx.old, idx.primary):
        if table is None:
            continue
        for head in table:
            off = head
            while off:
                assert off not in hashed, "an item sits in two chains"
                hashed.add(off)
                fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
                assert fl & ITEM_LINKED and not fl & ITEM_SLABBED
                off = HDR.unpack_from(mm, off)[2]
    assert len(hashed) == idx.hash_items == e.curr_items
    in_lru: set[int] = set()
    total = 0
    for lid in range(NUM_LRUS):
        off, prev, count, nbytes = e._heads[lid], 0, 0, 0
        while off:
            nxt, prv, _h, _t, _e, nb, _r, fl, cid, nk = HDR.unpack_from(mm, off)
            assert prv == prev, "prev link does not point back"
            if off >= page:  # crawler markers live in the header page
                assert cid == lid
                ntotal = 49 + nk + nb + (4 if fl & ITEM_CFLAGS else 0) + (8 if fl & ITEM_CAS else 0)
                count += 1
                nbytes += ntotal
                in_lru.add(off)
            prev, off = off, nxt
        assert e._tails[lid] == prev
        assert (count, nbytes) == (e._lru_sizes[lid], e._lru_bytes[lid])
        total += nbytes
    assert in_lru == hashed
    assert total == e._bytes
    arena = e._arena
    for cls in range(1, e._classes.power_largest + 1):
        off, prev, count = arena.free_head[cls], 0, 0
        while off:
            nxt, prv, _h, _t, _e, _nb, ref, fl, cid, _nk = HDR.unpack_from(mm, off)
            assert prv == prev and fl == ITEM_SLABBED and cid == cls and ref == 0
            count += 1
            prev, off = off, nxt
        assert count == arena.sl_curr[cls]
    for off in hashed:
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        cls = mm[off + 42] if fl & ITEM_CHUNKED else mm[off + 40] & CLSID_MASK
        assert arena.page_owner[off // page] == cls  # it sits in a page of its own class


def _zero(key: bytes) -> int:
    return 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(OPS, min_size=20, max_size=250),
    st.sampled_from(["plain", "zerohash", "flat", "nocas", "tinyhash"]),
)
def test_structures_hold_under_pressure(ops, variant):
    kw: dict = {"maxbytes": 2 << 20, "slab_reassign": False}
    if variant == "flat":
        cfg = EngineConfig.no_modern(**kw)
    else:
        cfg = EngineConfig(
            use_cas=variant != "nocas", hashpower_init=2 if variant == "tinyhash" else None, **kw
        )
    clock = ManualClock()
    e = Engine(cfg, clock=clock, hash_fn=_zero if variant == "zerohash" else None)
    latest: dict[bytes, bytes | None] = {}  # last value stored per key; None: not modelled
    version = 0
    for op in ops:
        name = op[0]
        if name == "set":
            _, key, n, flags, ttl = op
            version += 1
            value = _value(key, n, version)
            res = e.store(StoreMode.SET, key, flags, ttl, value)
            if res is StoreResult.STORED:
                latest[key] = value
            else:
                latest.pop(key, None)  # a refused SET unlinks the old value
        elif name in ("add", "replace", "append", "prepend"):
            _, key, n = op
            version += 1
            value = _value(key, n, version)
            before = e.get(key)
            res = e.store(StoreMode[name.upper()], key, 0, 0, value)
            if res is StoreResult.STORED:
                if name in ("add", "replace"):
                    latest[key] = value
                elif before is None or latest.get(key) is None:
                    latest[key] = None  # appended to an item this model does not know
                else:
                    old = before[1][:-2]
                    latest[key] = old + value if name == "append" else value + old
        elif name == "get":
            got = e.get(op[1])
            if got is not None and latest[op[1]] is not None:
                assert got[1] == latest[op[1]] + b"\r\n"
        elif name == "delete":
            e.delete(op[1])
        elif name == "incr":
            res, new = e.delta(op[1], True, 1)
            if new is not None:
                latest[op[1]] = None  # in-place results are space padded
        elif name == "touch":
            e.touch(op[1], 0)
        elif name == "advance":
            clock.advance(op[1])
        elif name == "background":
            e.run_background(op[1])
        else:
            e.flush_all()
    check_structures(e)
    for key, value in latest.items():
        got = e.get(key)
        assert got is None or value is None or got[1] == value + b"\r\n"


def test_keys_longer_than_any_item_miss(make_engine):
    e, _clock = make_engine()
    assert e.store(StoreMode.SET, b"k" * 250, 0, 0, b"v") is StoreResult.STORED
    for n in (251, 256, 300, 70000):
        assert e.get(b"k" * n) is None
        assert e.delete(b"k" * n) is False
        assert e.touch(b"k" * n, 0) is False
    stats = e.stats_general()
    assert (stats["get_misses"], stats["delete_misses"], stats["touch_misses"]) == (4, 4, 4)
    assert e.get(b"k" * 250)[1] == b"v\r\n"
