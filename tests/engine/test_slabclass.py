"""Class tables and item placement against memcached 1.6.18's -vv output and probes."""

from __future__ import annotations

import pytest

from slabcache.engine import EngineConfig, StoreMode, StoreResult
from slabcache.engine.config import EngineConfig as Cfg
from slabcache.engine.items import item_ntotal
from slabcache.engine.slabclass import build_classes

DEFAULT_SIZES = [96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856, 2320,
                 2904, 3632, 4544, 5680, 7104, 8880, 11104, 13880, 17352, 21696, 27120, 33904,
                 42384, 52984, 66232, 82792, 103496, 129376, 161720, 202152, 252696, 315872,
                 394840, 524288]  # fmt: skip


def test_default_table():
    c = build_classes(EngineConfig())
    assert c.power_largest == 39
    assert list(c.sizes[1:]) == DEFAULT_SIZES
    assert c.perslab[1] == 10922 and c.perslab[14] == 564 and c.perslab[39] == 2


@pytest.mark.parametrize(
    ("cfg", "n", "first", "last"),
    [
        (Cfg(chunk_size=32, factor=2), 13, [(80, 13107), (160, 6553), (320, 3276)],
         [(81920, 12), (163840, 6), (524288, 2)]),
        (Cfg(factor=1.08), 63, [(96, 10922), (104, 10082), (112, 9362), (120, 8738)],
         [(12776, 82), (13800, 75), (524288, 2)]),
        (Cfg(item_size_max=4 << 20), 39, [(96, 10922)], [(394840, 2), (524288, 2)]),
        (Cfg(use_cas=False), 39, [(96, 10922)], [(524288, 2)]),
        (Cfg(item_size_max=2 << 20, slab_chunk_max=1024), 11, [(96, 10922)],
         [(752, 1394), (1024, 1024)]),
        (Cfg.no_modern(), 42, [(96, 10922)], [(616944, 1), (771184, 1), (1048576, 1)]),
        (Cfg(slab_chunk_max=16), 1, [(16, 65536)], [(16, 65536)]),
        (Cfg(slab_sizes=(100, 200, 300, 1000)), 5,
         [(104, 10082), (200, 5242), (304, 3449), (1000, 1048)], [(524288, 2)]),
    ],
)  # fmt: skip
def test_variant_tables(cfg, n, first, last):
    c = build_classes(cfg)
    assert c.power_largest == n
    rows = list(zip(c.sizes[1:], c.perslab[1:], strict=True))
    assert rows[: len(first)] == first
    assert rows[-len(last) :] == last


@pytest.mark.parametrize(
    ("k", "v", "flags", "cas", "ntotal", "cls"),
    [
        (3, 5, 0, True, 67, 1),
        (10, 27, 0, True, 96, 1),
        (10, 28, 0, True, 97, 2),
        (10, 23, 1, True, 96, 1),
        (10, 24, 1, True, 97, 2),
        (10, 35, 0, False, 96, 1),
        (10, 36, 0, False, 97, 2),
        (3, 5, 0, False, 59, 1),
        (2, 100, 0, True, 161, 4),
        (2, 500, 0, True, 561, 9),
        (2, 1000, 0, True, 1061, 12),
        (2, 2000, 0, True, 2061, 15),
        (20, 1400, 0, True, 1479, 13),
        (2, 10000, 0, True, None, 22),
        (2, 100000, 0, True, None, 32),
        (2, 400000, 0, True, None, 39),
    ],
)
def test_placement(make_engine, k, v, flags, cas, ntotal, cls):
    eng, _ = make_engine(use_cas=cas)
    n = item_ntotal(k, v + 2, bool(flags), cas)
    if ntotal is not None:
        assert n == ntotal
    key = b"k" * k
    assert eng.store(StoreMode.SET, key, flags, 0, b"v" * v) is StoreResult.STORED
    slabs = dict(eng.stats_slabs())
    assert slabs[f"{cls}:used_chunks"] == 1
    assert dict(eng.stats_items())[f"items:{cls}:mem_requested"] == n


def test_chunked_placement_worked_example(make_engine):
    eng, _ = make_engine()
    assert eng.store(StoreMode.SET, b"big1", 0, 0, b"x" * 600000) is StoreResult.STORED
    s = dict(eng.stats_slabs())
    assert s["2:used_chunks"] == 1  # header
    assert s["39:used_chunks"] == 1  # one full chunk
    assert s["31:used_chunks"] == 1  # last 75762 + 48 bytes
    assert s["39:cmd_set"] == 1 and s["31:cmd_set"] == 0
    assert dict(eng.stats_items())["items:39:number"] == 1
    assert eng.get(b"big1")[1] == b"x" * 600000 + b"\r\n"
    assert eng.store(StoreMode.SET, b"big2", 0, 0, b"y" * 1048276) is StoreResult.STORED
    assert dict(eng.stats_slabs())["39:used_chunks"] == 3
    assert eng.store(StoreMode.SET, b"k", 0, 0, b"z" * 400000) is StoreResult.STORED
    assert dict(eng.stats_slabs())["39:used_chunks"] == 4
    assert eng.delete(b"big1") and eng.delete(b"big2")
    s = dict(eng.stats_slabs())
    assert s["39:used_chunks"] == 1 and s["31:used_chunks"] == 0 and s["2:used_chunks"] == 0


def test_too_large(make_engine):
    eng, _ = make_engine()
    assert eng.store(StoreMode.SET, b"k", 0, 0, b"x" * (1048576 - 60)) is StoreResult.STORED
    assert eng.store(StoreMode.SET, b"k", 0, 0, b"x" * 1048576) is StoreResult.TOO_LARGE
    assert eng.get(b"k") is None  # a failed set removes the old value
    assert eng.stats_general()["store_too_large"] == 1
    assert eng.stats_general()["cmd_set"] == 1
