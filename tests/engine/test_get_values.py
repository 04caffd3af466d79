"""get_values(keys) against a twin engine doing [get(k) for k in keys]: results, stats, memory."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slabcache.engine import EngineConfig, StoreMode

STORED = [b"a", b"bb", b"key:1", b"key:2", b"k" * 40, b"x" * 250]
NEVER = [b"", b"missing", b"z" * 300]  # never stored; the last is longer than any stored key
KEYS = st.sampled_from(STORED)
SIZES = st.sampled_from([0, 1, 10, 100, 100, 2000, 40000])
CONFIGS = {
    "default": dict(maxbytes=8 << 20),
    "nocas": dict(maxbytes=8 << 20, use_cas=False),
    # memory pressure, chunked items, a hash table that grows on tick()
    "tight": dict(maxbytes=4 << 20, slab_chunk_max=16384, hashpower_init=1),
    "temp": dict(maxbytes=4 << 20, temp_lru=True, temporary_ttl=3, use_cas=False),
    "flat": "no_modern",
}
OPS = st.one_of(
    st.tuples(st.just("set"), KEYS, st.sampled_from([0, 0, 0, 7, 2**32 - 1]),
              st.sampled_from([0, 1, 1, 2, 5]), SIZES),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(st.just("get"), st.sampled_from(STORED + NEVER)),
    st.tuples(st.just("many"), st.lists(st.sampled_from(STORED + NEVER), max_size=12)),
    # repeats within one call: FETCHED, then ACTIVE, then the plain hit
    st.tuples(st.just("many"), st.lists(KEYS, min_size=1, max_size=4).map(lambda ks: ks * 3)),
    st.tuples(st.just("many"), st.lists(KEYS, min_size=1, max_size=4).map(lambda ks: ks * 3)),
    st.tuples(st.just("advance"), st.integers(0, 3)),
    st.tuples(st.just("advance"), st.integers(1, 3)),
    st.tuples(st.just("flush"), st.sampled_from([0, 0, 1, 2, 4])),
    st.tuples(st.just("background"), st.sampled_from([1, 1, 50])),
    st.tuples(st.just("tick"),),
)  # fmt: skip


def _gets(e, keys: list[bytes]) -> list:
    """What get_values returns, from one `get` per key."""
    out = []
    for k in keys:
        r = e.get(k)
        out.append(None if r is None else (r[0], r[1]) if r[0] else r[1])
    return out


def _value(size: int, salt: int) -> bytes:
    return bytes((i * 7 + salt) & 0xFF for i in range(size))


def _state(e) -> tuple:
    return (
        e.stats_general(),
        e.stats_items(),
        e.stats_slabs(),
        list(e._bumpq),
        len(e._arena.mm),
        e._arena.mm[: e._arena._next_fresh * e._arena.page_size],  # pages handed out so far
    )


def _make(make_engine, name: str):
    cfg = CONFIGS[name]
    if cfg == "no_modern":
        return make_engine(config=EngineConfig.no_modern(maxbytes=8 << 20))
    return make_engine(**cfg)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(sorted(CONFIGS)), st.lists(OPS, max_size=50))
def test_get_values_matches_sequential_gets(make_engine, config, ops):
    many, clock_m = _make(make_engine, config)
    seq, clock_s = _make(make_engine, config)
    for step, op in enumerate(ops):
        name = op[0]
        if name == "many":
            keys = op[1]
            assert many.get_values(keys) == _gets(seq, keys), (step, op)
        else:
            for e, clock in ((many, clock_m), (seq, clock_s)):
                if name == "set":
                    _, k, flags, ttl, size = op
                    e.store(StoreMode.SET, k, flags, ttl, _value(size, step))
                elif name == "delete":
                    e.delete(op[1])
                elif name == "get":
                    e.get(op[1])
                elif name == "advance":
                    clock.advance(op[1])
                elif name == "flush":
                    e.flush_all(op[1])
                elif name == "background":
                    e.run_background(op[1], 1_000_000)  # hash expansion slices, maintainer
                else:
                    e.tick()
        assert _state(many) == _state(seq), (step, op)


@given(st.sampled_from(sorted(CONFIGS)), st.booleans())
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_plain_hits_that_expire_or_are_flushed(make_engine, config, flush):
    many, clock_m = _make(make_engine, config)
    seq, clock_s = _make(make_engine, config)
    keys = [b"key:1", b"key:2", b"key:3"]
    for e, clock in ((many, clock_m), (seq, clock_s)):
        # (flags, ttl): a plain hit that expires, one that only a flush ends, client flags
        for k, (flags, ttl) in zip(keys, [(0, 2), (0, 0), (9, 0)], strict=True):
            e.store(StoreMode.SET, k, flags, ttl, k)
        for _ in range(3):
            e.get_values(keys)  # up to the plain hit (FETCHED and ACTIVE)
        if flush:
            e.flush_all(1)
        clock.advance(3)
    calls = [keys, keys[::-1], keys * 2]
    for ks in calls:
        assert many.get_values(ks) == _gets(seq, ks)
        assert _state(many) == _state(seq)


def test_get_values_during_hash_expansion(make_engine):
    many, _ = make_engine(hashpower_init=1)
    seq, _ = make_engine(hashpower_init=1)
    keys = [b"key:%d" % i for i in range(8)]
    for e in (many, seq):
        for k in keys:
            e.store(StoreMode.SET, k, 0, 0, k)
        e.tick()
        assert e._index.fast is None  # expanding: lookups may use the old table
    calls = [keys, [*keys[::-1], b"nope"], keys * 2]
    while many._index.expanding:
        for ks in calls:
            assert many.get_values(ks) == _gets(seq, ks)
            assert _state(many) == _state(seq)
        for e in (many, seq):
            e.run_background(1, 1_000_000)
    assert many.get_values(keys) == _gets(seq, keys)
    assert _state(many) == _state(seq)


def test_get_values_edge_cases(make_engine):
    many, _ = make_engine()
    seq, _ = make_engine()
    for e in (many, seq):
        e.store(StoreMode.SET, b"k1", 5, 0, b"v1")
        e.store(StoreMode.SET, b"k2", 0, 0, b"v2")
    calls = [[], [b"k1"], [b"k1", b"k1", b"k1"], [b"k2", b"nope", b"k2", b"k1"], [b"z" * 300]]
    for keys in calls:
        assert many.get_values(keys) == _gets(seq, keys)
        assert _state(many) == _state(seq)
    assert many.get_values([b"k1", b"k2"]) == [(5, b"v1\r\n"), b"v2\r\n"]
