"""Engine settings: every memory, LRU and hash option memcached 1.6.18 has, with its defaults.

The CLI maps memcached's flags onto this object; the engine validates nothing here that the
CLI must report with memcached's own startup messages (the CLI does that first).
"""

from __future__ import annotations

from dataclasses import dataclass

SLAB_PAGE_SIZE = 1 << 20  # fixed in memcached 1.6
MAX_NUMBER_OF_SLAB_CLASSES = 64  # index 0 is the global page pool
KEY_MAX_LENGTH = 250
REALTIME_MAXDELTA = 60 * 60 * 24 * 30  # exptimes above this are absolute Unix times
HASHPOWER_DEFAULT = 16


@dataclass
class EngineConfig:
    # memory (-m, -M, -L, -e)
    maxbytes: int = 64 * 1024 * 1024
    evict_to_free: bool = True  # -M sets False: OOM error instead of evicting
    prealloc: bool = False  # -L: one page per class up front
    memory_file: str | None = None  # -e: arena backed by this file (warm restart)

    # slab classes (-n, -f, -I, -o slab_chunk_max, -o slab_sizes, -o no_chunked_items)
    chunk_size: int = 48
    factor: float = 1.25
    item_size_max: int = 1024 * 1024
    slab_page_size: int = SLAB_PAGE_SIZE
    slab_chunk_max: int = SLAB_PAGE_SIZE // 2
    slab_sizes: tuple[int, ...] | None = None

    # items
    use_cas: bool = True  # -C sets False

    # hash table (-o hashpower, no_hashexpand, hash_algorithm)
    hashpower_init: int | None = None  # None: memcached's default of 16, reported as 0
    hash_expand: bool = True
    hash_algorithm: str = "murmur3"  # murmur3 | jenkins | xxh3

    # LRU (-o lru_maintainer, lru_segmented, hot/warm pct and factors, temporary_ttl)
    lru_maintainer: bool = True
    lru_segmented: bool = True
    hot_lru_pct: int = 20
    warm_lru_pct: int = 40
    hot_max_factor: float = 0.2
    warm_max_factor: float = 2.0
    temp_lru: bool = False
    temporary_ttl: int = 61
    tail_repair_time: int = 0

    # LRU crawler (-o lru_crawler, lru_crawler_sleep, lru_crawler_tocrawl)
    lru_crawler: bool = True
    lru_crawler_sleep: int = 100
    lru_crawler_tocrawl: int = 0

    # slab page mover (-o slab_reassign, slab_automove, ratio, window)
    slab_reassign: bool = True
    slab_automove: int = 1
    slab_automove_ratio: float = 0.8
    slab_automove_window: int = 30

    # stats sizes (-o track_sizes)
    track_sizes: bool = False

    @classmethod
    def no_modern(cls, **overrides: object) -> EngineConfig:
        """memcached's `-o no_modern`: the 1.4-style flat LRU, jenkins hash, 1 MiB top class."""
        base: dict[str, object] = dict(
            slab_chunk_max=SLAB_PAGE_SIZE,
            slab_reassign=False,
            slab_automove=0,
            lru_crawler=False,
            lru_maintainer=False,
            lru_segmented=False,
            hash_algorithm="jenkins",
        )
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]
