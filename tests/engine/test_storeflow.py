"""The two-phase storage API (alloc_item / write_value / complete_store / abort_store)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slabcache.engine import Engine, EngineConfig, ManualClock, StoreMode, StoreResult

PAGE = 1 << 20


def used_chunks(eng: Engine) -> int:
    return sum(v for k, v in eng.stats_slabs() if k.endswith(":used_chunks"))


def cmd_set(eng: Engine) -> int:
    return sum(v for k, v in eng.stats_slabs() if k.endswith(":cmd_set"))


def fill(eng: Engine, h: int, block: bytes, step: int) -> bool:
    # stops at the first refused piece, as the server does
    return all(eng.write_value(h, block[i : i + step]) for i in range(0, len(block), step))


def test_one_chunk_item_round_trip(engine):
    h = engine.alloc_item(StoreMode.SET, b"k", 7, 0, 5)
    assert type(h) is int
    assert engine.get(b"k") is None  # held, not linked yet
    assert engine.write_value(h, b"abc\r\n")
    assert engine.complete_store(h, StoreMode.SET, None, True) is StoreResult.STORED
    flags, data, _cas = engine.get(b"k")
    assert (flags, bytes(data)) == (7, b"abc\r\n")
    assert cmd_set(engine) == 1
    assert engine.stats_general()["curr_items"] == 1


def test_chunked_item_written_in_pieces(engine):
    value = bytes(range(256)) * 3000  # 768000 bytes: a chunked item
    block = value + b"\r\n"
    h = engine.alloc_item(StoreMode.SET, b"big", 0, 0, len(block))
    assert type(h) is int
    assert fill(engine, h, block, 7001)
    assert engine.complete_store(h, StoreMode.SET, None, True) is StoreResult.STORED
    assert bytes(engine.get(b"big")[1]) == block


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([0, 1, 100, 16000, 524000, 524300, 700000]),
    cuts=st.lists(st.integers(min_value=1, max_value=300000), min_size=1, max_size=6),
)
def test_any_fragmentation_stores_the_same_bytes(size, cuts):
    eng = Engine(EngineConfig(), clock=ManualClock())
    value = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    block = value + b"\r\n"
    h = eng.alloc_item(StoreMode.SET, b"k", 1, 0, len(block))
    pos = 0
    for c in cuts:
        if pos >= len(block):
            break
        assert eng.write_value(h, block[pos : pos + c])
        pos += c
    assert eng.write_value(h, block[pos:])
    assert eng.complete_store(h, StoreMode.SET, None, True) is StoreResult.STORED
    assert bytes(eng.get(b"k")[1]) == block


def test_bad_terminator_counts_the_set_and_frees_the_item(engine):
    engine.store(StoreMode.SET, b"k", 0, 0, b"old")
    base = used_chunks(engine)
    for size in (10, 700000):
        h = engine.alloc_item(StoreMode.SET, b"k", 0, 0, size + 2)
        assert fill(engine, h, b"v" * size + b"xx", 65536)
        assert engine.complete_store(h, StoreMode.SET, None, False) is None
        assert used_chunks(engine) == base  # the item and its chunks went back
    assert cmd_set(engine) == 3  # memcached counts the set before it checks the CRLF
    assert bytes(engine.get(b"k")[1]) == b"old\r\n"


def test_abort_frees_a_partly_written_item(engine):
    engine.store(StoreMode.SET, b"k", 0, 0, b"old")
    base = used_chunks(engine)
    sets = cmd_set(engine)
    for size in (10, 700000):
        h = engine.alloc_item(StoreMode.SET, b"k", 0, 0, size + 2)
        assert used_chunks(engine) > base
        assert engine.write_value(h, b"v" * (size // 2))
        engine.abort_store(h)
        assert used_chunks(engine) == base
    engine.abort_store(h)  # a second abort of the same handle does nothing
    assert used_chunks(engine) == base
    assert cmd_set(engine) == sets  # an aborted read never reached complete_nread
    assert bytes(engine.get(b"k")[1]) == b"old\r\n"


def test_too_large_is_counted_and_a_set_drops_the_old_item(engine):
    huge = 2 * PAGE
    for mode in (StoreMode.ADD, StoreMode.APPEND, StoreMode.REPLACE):
        engine.store(StoreMode.SET, b"k", 0, 0, b"old")
        assert engine.alloc_item(mode, b"k", 0, 0, huge) is StoreResult.TOO_LARGE
        assert engine.get(b"k") is not None  # only SET unlinks
    assert engine.alloc_item(StoreMode.SET, b"k", 0, 0, huge) is StoreResult.TOO_LARGE
    assert engine.get(b"k") is None
    assert engine.stats_general()["store_too_large"] == 4


def test_unlink_on_fail_overrides_the_mode(engine):
    engine.store(StoreMode.SET, b"a", 0, 0, b"1")
    engine.store(StoreMode.SET, b"b", 0, 0, b"1")
    r = engine.alloc_item(StoreMode.SET, b"a", 0, 0, 2 * PAGE, unlink_on_fail=False)
    assert r is StoreResult.TOO_LARGE
    assert engine.get(b"a") is not None
    r = engine.alloc_item(StoreMode.ADD, b"b", 0, 0, 2 * PAGE, unlink_on_fail=True)
    assert r is StoreResult.TOO_LARGE
    assert engine.get(b"b") is None


def test_uncounted_refusal_still_unlinks(engine):
    engine.store(StoreMode.SET, b"k", 0, 0, b"old")
    r = engine.alloc_item(StoreMode.SET, b"k", 0, 0, 2 * PAGE, count=False)
    assert r is StoreResult.TOO_LARGE
    assert engine.get(b"k") is None
    assert engine.stats_general()["store_too_large"] == 0


def test_chunk_allocation_failure_while_writing(make_engine):
    # -M with two pages: the 512K class is full, so the second data chunk has no page
    eng, _clock = make_engine(maxbytes=2 * PAGE, evict_to_free=False)
    for i in range(2):
        assert eng.store(StoreMode.SET, b"big%d" % i, 0, 0, b"x" * 600000) is StoreResult.STORED
    base = used_chunks(eng)
    block = b"y" * 700000 + b"\r\n"
    h = eng.alloc_item(StoreMode.SET, b"k", 0, 0, len(block))
    assert type(h) is int
    assert not fill(eng, h, block, 4096)
    eng.abort_store(h)
    assert used_chunks(eng) == base
    g = eng.stats_general()
    assert g["store_no_memory"] == 0  # "Out of memory during read" is not store_no_memory
    assert eng.get(b"k") is None
    # the one-call form reports the same failure as NO_MEMORY
    assert eng.store(StoreMode.SET, b"k", 0, 0, block[:-2]) is StoreResult.NO_MEMORY
    assert used_chunks(eng) == base


def test_binary_values_get_their_crlf_from_the_engine(engine):
    for value in (b"", b"abc", b"z" * 600000):
        h = engine.alloc_item(StoreMode.SET, b"k", 0, 0, len(value) + 2, binary=True)
        assert fill(engine, h, value, 100000) if value else True
        assert engine.complete_store(h, StoreMode.SET, None, True) is StoreResult.STORED
        assert bytes(engine.get(b"k")[1]) == value + b"\r\n"


def test_append_combines_with_the_held_item(engine):
    engine.store(StoreMode.SET, b"k", 3, 0, b"head")
    h = engine.alloc_item(StoreMode.APPEND, b"k", 0, 0, 6)
    assert engine.write_value(h, b"tail\r\n")
    assert engine.complete_store(h, StoreMode.APPEND, None, True) is StoreResult.STORED
    flags, data, _cas = engine.get(b"k")
    assert (flags, bytes(data)) == (3, b"headtail\r\n")
    h = engine.alloc_item(StoreMode.APPEND, b"missing", 0, 0, 3)
    assert engine.write_value(h, b"x\r\n")
    assert engine.complete_store(h, StoreMode.APPEND, None, True) is StoreResult.NOT_STORED
