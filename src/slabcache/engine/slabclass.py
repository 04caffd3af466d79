"""The slab class table exactly as memcached 1.6.18's slabs_init builds it, and size lookup."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from .config import MAX_NUMBER_OF_SLAB_CLASSES, EngineConfig

ITEM_HEADER_SIZE = 48  # sizeof(item) on 64-bit
CHUNK_ALIGN_BYTES = 8
POWER_SMALLEST = 1


@dataclass(frozen=True)
class SlabClasses:
    sizes: tuple[int, ...]  # index 0 unused (global pool); 1..power_largest
    perslab: tuple[int, ...]
    power_largest: int
    item_size_max: int

    def clsid(self, ntotal: int) -> int | None:
        """slabs_clsid: first class whose chunk fits; power_largest for chunked sizes."""
        if ntotal <= 0 or ntotal > self.item_size_max:
            return None
        i = bisect_left(self.sizes, ntotal, 1, self.power_largest + 1)
        return i if i <= self.power_largest else self.power_largest


def _align(size: int) -> int:
    rem = size % CHUNK_ALIGN_BYTES
    return size + CHUNK_ALIGN_BYTES - rem if rem else size


def build_classes(cfg: EngineConfig) -> SlabClasses:
    page = cfg.slab_page_size
    chunk_max = cfg.slab_chunk_max
    factor = cfg.factor
    sizes = [0]
    size = ITEM_HEADER_SIZE + cfg.chunk_size
    explicit = list(cfg.slab_sizes) if cfg.slab_sizes else None
    i = POWER_SMALLEST - 1
    while True:
        i += 1
        if i >= MAX_NUMBER_OF_SLAB_CLASSES - 1:
            break
        if explicit is not None:
            if i - 1 >= len(explicit):
                break
            size = explicit[i - 1]
        elif size >= chunk_max / factor:
            break
        size = _align(size)
        sizes.append(size)
        if explicit is None:
            size = int(size * factor)  # unsigned truncation, as the C does
    power_largest = i
    sizes = sizes[:power_largest]
    sizes.append(chunk_max)
    perslab = tuple(page // s if s else 0 for s in sizes)
    return SlabClasses(tuple(sizes), perslab, power_largest, cfg.item_size_max)
