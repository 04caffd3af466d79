"""One mmap of 1 MiB slab pages: the global page pool, per-class pages and free lists, -m.

Page 0 is the arena header: it never holds a chunk, so offset 0 is a safe null link and the
header page has room for LRU crawler markers (fake items that live outside any slab page).
Free chunks form a doubly linked LIFO list through their own next/prev fields, flagged
ITEM_SLABBED with their class id, as in memcached's slabs.c; a new page is split into the free
list at once, so chunks come out in reverse address order.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from array import array
from collections.abc import Callable, Iterator

from .config import EngineConfig
from .items import ITEM_SLABBED, LINKS, OFF_PREV, Q
from .slabclass import SlabClasses

# next, prev, 22 bytes of header, it_flags, slabs_clsid, padding: a whole free-chunk header
FREE_HDR = struct.Struct("<QQ22xHB7x")
MARKER_SLOT = 64  # bytes per crawler-marker slot in the header page
MARKER_BASE = 4096


class PreallocError(Exception):
    """-L/-e: -m cannot hold one page per class."""


class Arena:
    def __init__(self, cfg: EngineConfig, classes: SlabClasses) -> None:
        self.page_size = page = cfg.slab_page_size
        self.classes = classes
        self.mem_limit = cfg.maxbytes
        self.mem_malloced = 0
        self.prealloc = cfg.prealloc or cfg.memory_file is not None
        # memcached's no_modern case: pages are chunk*perslab long (odd total_malloced)
        self._full_pages = cfg.slab_reassign or cfg.slab_chunk_max != page
        nclasses = classes.power_largest + 1
        # room for -m worth of pages plus the first-page-per-class allowance; grows on demand
        self._npages = 1 + -(-cfg.maxbytes // page) + nclasses
        # one spare page past the last usable one: a lookup reads a key-length window at an
        # item's key, which may run past a small item near the end (never touched: no RSS)
        self.mm = mmap.mmap(
            -1, (self._npages + 1) * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        )
        self._advise_huge()
        # the arena as 64-bit words: the hot paths read and write links (next, prev, h_next,
        # CAS: all 8-aligned) by index, cheaper than a struct call; remade when the map grows
        self.m64 = memoryview(self.mm).cast("Q")
        self.remap_hooks: list[Callable[[], None]] = []
        self._next_fresh = 1  # page 0 is the arena header
        self._released: list[int] = []  # pages given back (cache_memlimit), reusable as fresh
        self._prealloc_pages = cfg.maxbytes // page if self.prealloc else None
        self.pool: list[int] = []  # global page pool (class 0), LIFO
        self.pages: list[list[int]] = [[] for _ in range(nclasses)]
        self.page_owner: dict[int, int] = {}  # page index -> class id (0 = pool)
        self.free_head = [0] * nclasses
        self.sl_curr = [0] * nclasses
        self._zero_page = bytes(page)
        # page length per class, precomputed: new_slab runs on every allocation at the -m limit
        self._page_lens = [
            page if self._full_pages else classes.sizes[c] * classes.perslab[c]
            for c in range(nclasses)
        ]
        if self.prealloc:
            if classes.power_largest * page > cfg.maxbytes:
                raise PreallocError(
                    "Error while preallocating slab memory! If using -L or other prealloc "
                    "options, max memory must be at least "
                    f"{classes.power_largest} megabytes."
                )
            for cls in range(1, nclasses):
                self.new_slab(cls)
            if cfg.memory_file is not None:
                while (page_idx := self._fresh_page()) is not None:
                    self.mem_malloced += page
                    self.pool.append(page_idx)
                    self.page_owner[page_idx] = 0

    # -- pages -----------------------------------------------------------------------------

    def page_len(self, cls: int) -> int:
        return self._page_lens[cls]

    def _fresh_page(self) -> int | None:
        if self._prealloc_pages is not None and self.mem_malloced >= self._prealloc_pages * (
            self.page_size
        ):
            return None
        if self._released:
            return self._released.pop()
        if self._next_fresh >= self._npages:
            self._grow(self._npages * 2)
        idx = self._next_fresh
        self._next_fresh += 1
        return idx

    def _advise_huge(self) -> None:
        # items are reached by random offsets: 2 MiB pages spare most TLB misses on a lookup
        # (where THP is "madvise"); page release (MADV_DONTNEED) splits them as needed
        if hasattr(mmap, "MADV_HUGEPAGE"):
            with contextlib.suppress(OSError):  # a kernel without THP
                self.mm.madvise(mmap.MADV_HUGEPAGE)

    def _grow(self, npages: int) -> None:
        # offsets are arena-relative, so a bigger mapping keeps every link valid; the word
        # view must be let go for the resize and is handed out again afterwards
        self.m64.release()
        self.mm.resize((npages + 1) * self.page_size)
        self._advise_huge()
        self.m64 = memoryview(self.mm).cast("Q")
        self._npages = npages
        for hook in self.remap_hooks:
            hook()

    def new_slab(self, cls: int) -> bool:
        """do_slabs_newslab: the -m check, the first-page allowance, pool first."""
        length = self._page_lens[cls]
        limit = self.mem_limit
        if limit and self.mem_malloced + length > limit and self.pages[cls] and not self.pool:
            return False
        if self.pool:
            idx = self.pool.pop()
            start = idx * self.page_size
            self.mm[start : start + self.page_size] = self._zero_page
        else:
            fresh = self._fresh_page()
            if fresh is None:
                return False
            idx = fresh
            self.mem_malloced += length
        self.pages[cls].append(idx)
        self.page_owner[idx] = cls
        self._split_into_freelist(idx, cls)
        return True

    def _split_into_freelist(self, idx: int, cls: int) -> None:
        size = self.classes.sizes[cls]
        n = self.classes.perslab[cls]
        base = idx * self.page_size
        mm = self.mm
        old_head = self.free_head[cls]
        last = base + (n - 1) * size
        # every chunk's 48-byte free header (FREE_HDR: next, prev, zeros, it_flags, clsid),
        # written as six strided word columns instead of one pack per chunk
        m64 = self.m64
        w = size >> 3
        b = base >> 3
        stop = b + n * w
        m64[b:stop:w] = array("Q", (old_head,)) + array("Q", range(base, last, size))
        m64[b + 1 : stop : w] = array("Q", range(base + size, last + 1, size)) + array("Q", (0,))
        zeros = array("Q", bytes(8 * n))
        m64[b + 2 : stop : w] = zeros
        m64[b + 3 : stop : w] = zeros
        m64[b + 4 : stop : w] = array("Q", (ITEM_SLABBED << 48,)) * n  # flags at byte 38
        m64[b + 5 : stop : w] = array("Q", (cls,)) * n
        if old_head:
            Q.pack_into(mm, old_head + OFF_PREV, base)
        self.free_head[cls] = last
        self.sl_curr[cls] += n

    def push_pool_page(self, idx: int) -> None:
        """A whole page enters the global pool (page mover with dst 0, prefill)."""
        self.pool.append(idx)
        self.page_owner[idx] = 0

    def new_pool_page(self) -> bool:
        """Obtain a fresh page straight into the pool (counts toward total_malloced)."""
        idx = self._fresh_page()
        if idx is None:
            return False
        self.mem_malloced += self.page_size
        self.push_pool_page(idx)
        return True

    def release_pool_pages(self) -> int:
        """Give pool pages back while over the limit (cache_memlimit lowered)."""
        freed = 0
        while self.pool and self.mem_malloced > self.mem_limit:
            idx = self.pool.pop()
            del self.page_owner[idx]
            self.mem_malloced -= self.page_size
            start = idx * self.page_size
            self.mm.madvise(mmap.MADV_DONTNEED, start, self.page_size)
            self._released.append(idx)
            freed += 1
        return freed

    def chunks_of_page(self, idx: int) -> Iterator[int]:
        """Offsets of every chunk in a page (for the slab mover's per-page walk)."""
        cls = self.page_owner[idx]
        size = self.classes.sizes[cls]
        base = idx * self.page_size
        for i in range(self.classes.perslab[cls]):
            yield base + i * size

    def page_of(self, off: int) -> int:
        return off // self.page_size

    # -- chunks ----------------------------------------------------------------------------

    def alloc(self, cls: int) -> int | None:
        """do_slabs_alloc: pop the free-list head, asking for a new page when empty."""
        head = self.free_head[cls]
        if not head:
            if not self.new_slab(cls):
                return None
            head = self.free_head[cls]
        mm = self.mm
        nxt = Q.unpack_from(mm, head)[0]
        self.free_head[cls] = nxt
        if nxt:
            Q.pack_into(mm, nxt + OFF_PREV, 0)
        self.sl_curr[cls] -= 1
        return head

    def free(self, off: int, cls: int) -> None:
        """do_slabs_free: push onto the class free list."""
        head = self.free_head[cls]
        FREE_HDR.pack_into(self.mm, off, head, 0, ITEM_SLABBED, cls)
        if head:
            Q.pack_into(self.mm, head + OFF_PREV, off)
        self.free_head[cls] = off
        self.sl_curr[cls] += 1

    def unlink_free_chunk(self, off: int, cls: int) -> None:
        """Cut one free chunk out of its class's free list (used by the page mover)."""
        nxt, prv = LINKS.unpack_from(self.mm, off)
        if prv:
            Q.pack_into(self.mm, prv, nxt)
        else:
            self.free_head[cls] = nxt
        if nxt:
            Q.pack_into(self.mm, nxt + OFF_PREV, prv)
        self.sl_curr[cls] -= 1

    def marker_offset(self, slot: int) -> int:
        """A place in the header page for a crawler marker (never a slab chunk)."""
        off = MARKER_BASE + slot * MARKER_SLOT
        if off + MARKER_SLOT > self.page_size:
            raise IndexError("no such marker slot")
        return off

    def is_marker(self, off: int) -> bool:
        return off < self.page_size
