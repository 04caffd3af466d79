"""store(..., crlf=True): a value that still ends with its block's CRLF is stored exactly as
the same value without it, in every mode and size (plain, chunked, too large, no memory)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slabcache.engine import StoreMode

KEYS = st.sampled_from([b"a", b"key:1", b"k" * 250])
SIZES = st.sampled_from([0, 1, 100, 2046, 2047, 2048, 40000, 600000, 2 << 20])
MODES = st.sampled_from(list(StoreMode))
_PATTERN = bytes(range(251)) * 2
CONFIGS = {
    "default": dict(maxbytes=8 << 20),
    "nocas": dict(maxbytes=8 << 20, use_cas=False),
    "tight": dict(maxbytes=4 << 20, slab_chunk_max=16384),
}


def _state(e) -> tuple:
    return (
        e.stats_general(),
        e.stats_items(),
        e.stats_slabs(),
        e._arena.mm[: e._arena._next_fresh * e._arena.page_size],
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(sorted(CONFIGS)),
    st.lists(st.tuples(MODES, KEYS, st.sampled_from([0, 3]), SIZES, st.booleans()), max_size=12),
)
def test_crlf_block_stores_like_the_bare_value(make_engine, config, ops):
    bare, _ = make_engine(**CONFIGS[config])
    block, _ = make_engine(**CONFIGS[config])
    for step, (mode, key, flags, size, as_view) in enumerate(ops):
        value = (_PATTERN * (size // 251 + 1))[step : step + size]
        data = value + b"\r\n"
        arg = memoryview(data) if as_view else data
        cas = 1 if mode is StoreMode.CAS else None
        want = bare.store(mode, key, flags, 0, value, cas)
        got = block.store(mode, key, flags, 0, arg, cas, crlf=True)
        assert got == want, (step, mode, size)
        assert block.get(key) == bare.get(key)
        assert _state(block) == _state(bare), (step, mode, size)
