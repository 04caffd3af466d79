"""Slab page mover and automove (slabs.c slab_rebalance_*, slab_automove.c), in bounded slices.

Plan: `reassign(src, dst)` only records the request (memcached's slab_rebalance_signal); the
move itself runs in `run(budget)`, one chunk of the source class's oldest page per unit of
work, exactly like the "mc-slabmaint" thread: free chunks are cut out of the free list, live
items are copied into a free chunk of the same class outside the page (a rescue, which relinks
the copy at the head of its LRU with a new CAS) or evicted when there is none, dead items are
dropped, and held items are retried on another pass. A clean page goes to `dst`'s free list
(zeroed) or to the global pool (dst 0).

Automove mode 1 samples every class once per clock second (`tick`) into a rolling window and
decides reclaim (page to the pool) or rebalance (oldest -> youngest); mode 2 asks for a move
toward the evicting class on every eviction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from .items import (
    CHUNK_HEADER_SIZE,
    H16,
    I32,
    ITEM_CHUNK,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    ITEM_LINKED,
    ITEM_SLABBED,
    OFF_CHUNK_HEAD,
    OFF_CHUNK_USED,
    OFF_EXPTIME,
    OFF_FLAGS,
    OFF_NEXT,
    OFF_PREV,
    OFF_REFCOUNT,
    OFF_TIME,
    Q,
)

if TYPE_CHECKING:
    from .store import Engine

SLAB_GLOBAL_PAGE_POOL = 0
SLAB_MOVE_MAX_LOOPS = 1000  # busy passes before items still in use are force-unlinked
CLEARED = ITEM_SLABBED | ITEM_FETCHED  # memcached's mark for "chunk already cleared for move"
MIN_PAGES_FOR_SOURCE = 2
MIN_PAGES_FOR_RECLAIM = 2.5
NUM_CLASSES = 64


class ReassignResult(Enum):
    """`slabs reassign` outcomes; the protocol maps these to memcached's reply lines."""

    OK = "OK"
    BUSY = "BUSY"  # BUSY currently processing reassign request
    SAME = "SAME"  # SAME src and dst class are identical
    BADCLASS = "BADCLASS"  # BADCLASS invalid src or dst class id
    NOSPARE = "NOSPARE"  # NOSPARE source class has no spare pages
    DISABLED = "DISABLED"  # CLIENT_ERROR slab reassignment disabled


@dataclass
class _Sample:
    """One class's entry in the automove window (slab_automove.c window_data)."""

    age: int = 0
    dirty: bool = False
    evicted: bool = False
    share: float = 0.0  # this class's part of all evictions in the interval


@dataclass(frozen=True)
class _Snap:
    evicted: int
    outofmemory: int
    total_pages: int
    free_chunks: int
    perslab: int
    age: int


class SlabMover:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.signal = 0  # 0 idle, 1 requested, 2 moving
        self.src = 0
        self.dst = 0
        self._page: int | None = None
        self._chunks: list[int] = []
        self._completed = bytearray()
        self._pos = 0
        self._done = False
        self._busy_items = 0
        self._busy_loops = 0
        self._counts = dict.fromkeys(
            ("rescues", "chunk_rescues", "evictions_nomem", "inline_reclaim", "busy_deletes"), 0
        )
        self._pick_cur = 0
        self._last_automove: int | None = None
        self._recheck = False
        self._automove_reset()

    # -- requests ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.signal != 0

    def _npages(self, cls: int) -> int:
        arena = self.e._arena
        return len(arena.pool) if cls == SLAB_GLOBAL_PAGE_POOL else len(arena.pages[cls])

    def _pick_any(self, dst: int) -> int:
        """slabs_reassign_pick_any: round-robin over classes with a spare page, never dst."""
        largest = self.e._classes.power_largest
        for _ in range(largest):
            self._pick_cur += 1
            if self._pick_cur > largest:
                self._pick_cur = 1
            if self._pick_cur == dst:
                continue
            if len(self.e._arena.pages[self._pick_cur]) > 1:
                return self._pick_cur
        return -1

    def reassign(self, src: int, dst: int) -> ReassignResult:
        """slabs_reassign / do_slabs_reassign: validate and queue a page move."""
        if not self.e.cfg.slab_reassign:
            return ReassignResult.DISABLED
        if self.signal:
            return ReassignResult.BUSY
        if src == dst:
            return ReassignResult.SAME
        if src == -1:
            src = self._pick_any(dst)
        largest = self.e._classes.power_largest
        if not (0 <= src <= largest and 0 <= dst <= largest):
            return ReassignResult.BADCLASS
        if self._npages(src) < 2:
            return ReassignResult.NOSPARE
        self.signal = 1
        self.src, self.dst = src, dst
        return ReassignResult.OK

    # -- the move ---------------------------------------------------------------------------

    def run(self, budget: int) -> int:
        """Up to `budget` chunks of page-move work; returns the work done (0 when idle)."""
        work = 0
        if self.signal == 0 and self._recheck:
            self._recheck = False
            self._automove_step()
            work += 1
        if self.signal == 1:
            self._start()
            work += 1
        while self.signal == 2 and work < budget:
            if self._done:
                self._finish()
                work += 1
                break
            was_busy = self._move_one()
            work += 1
            if was_busy:
                break  # memcached backs off here; let the items' holders run first
        return work

    def _start(self) -> None:
        """slab_rebalance_start: pick the source's oldest page and prepare the walk."""
        arena = self.e._arena
        src = self.src
        if self._npages(src) < 2:
            self.signal = 0
            return
        if src == SLAB_GLOBAL_PAGE_POOL:
            self._page = arena.pool[0]
            self._chunks = []
            self._done = True  # a pool page holds no chunks
        else:
            self._page = arena.pages[src][0]
            size = self.e._classes.sizes[src]
            base = self._page * arena.page_size
            self._chunks = [base + i * size for i in range(self.e._classes.perslab[src])]
            self._done = False
        self._completed = bytearray(len(self._chunks))
        self._pos = 0
        self._busy_items = 0
        self._busy_loops = 0
        self.signal = 2

    def _in_page(self, off: int) -> bool:
        return self.e._arena.page_of(off) == self._page

    def _clear(self, off: int) -> None:
        mm = self.e._mm
        H16.pack_into(mm, off + OFF_REFCOUNT, 0)
        H16.pack_into(mm, off + OFF_FLAGS, CLEARED)

    def _alloc_outside(self) -> int | None:
        """slab_rebalance_alloc: a free chunk of src outside the page (never a new page)."""
        arena = self.e._arena
        src = self.src
        for _ in range(self.e._classes.perslab[src]):
            head = arena.free_head[src]
            if not head:
                return None
            arena.unlink_free_chunk(head, src)
            if not self._in_page(head):
                return head
            # a free chunk of the page itself: cleared now, skipped when the walk reaches it
            self._clear(head)
            self._counts["inline_reclaim"] += 1
        return None

    def _move_one(self) -> bool:
        """slab_rebalance_move for the chunk at the current position; True if it was busy."""
        e = self.e
        mm = e._mm
        idx = self._pos
        was_busy = False
        if not self._completed[idx]:
            off = self._chunks[idx]
            ch: int | None = None
            it = off
            if H16.unpack_from(mm, off + OFF_FLAGS)[0] & ITEM_CHUNK:
                ch = off  # a chained chunk: the head item decides
                it = Q.unpack_from(mm, off + OFF_CHUNK_HEAD)[0]
            fl = H16.unpack_from(mm, it + OFF_FLAGS)[0]
            if fl == CLEARED and ch is None:
                pass
            elif fl & ITEM_SLABBED:
                e._arena.unlink_free_chunk(off, self.src)
                self._clear(off)
                self._completed[idx] = 1
            elif fl & ITEM_LINKED:
                ref = H16.unpack_from(mm, it + OFF_REFCOUNT)[0]
                if ref == 1:
                    was_busy = self._move_linked(idx, off, it, ch, fl)
                else:
                    if self._busy_loops > SLAB_MOVE_MAX_LOOPS:
                        self._counts["busy_deletes"] += 1
                        e._item_unlink(it)
                    self._busy_items += 1
                    was_busy = True
            else:
                # neither free nor linked: being written or awaiting its last release
                self._busy_items += 1
                was_busy = True
        self._pos += 1
        if self._pos >= len(self._chunks):
            if self._busy_items:
                self._pos = 0
                e._g["slab_reassign_busy_items"] += self._busy_items
                self._busy_items = 0
                self._busy_loops += 1
            else:
                self._done = True
        return was_busy

    def _move_linked(self, idx: int, off: int, it: int, ch: int | None, fl: int) -> bool:
        e = self.e
        mm = e._mm
        now = e.clock.now
        exptime = I32.unpack_from(mm, it + OFF_EXPTIME)[0]
        t = I32.unpack_from(mm, it + OFF_TIME)[0]
        new: int | None = None
        if (exptime and exptime < now) or e._is_flushed(t, e._item_cas(it)):
            save = False  # dead: dropped, not counted
        else:
            new = self._alloc_outside()
            save = new is not None
            if not save:
                self._counts["evictions_nomem"] += 1
        if save:
            assert new is not None
            if ch is None:
                self._rescue_item(it, new, fl)
                self._counts["rescues"] += 1
            else:
                self._rescue_chunk(ch, new)
                self._counts["chunk_rescues"] += 1
            self._completed[idx] = 1
            return False
        if ch is None and not fl & ITEM_CHUNKED:
            e._item_hold(it)  # our reference keeps the chunk from going to the free list
            e._item_unlink(it)
            self._clear(it)
            self._completed[idx] = 1
            return False
        # chained memory: unlink frees every chunk; the next pass cuts ours from the free list
        e._item_unlink(it)
        self._busy_items += 1
        return True

    def _rescue_item(self, it: int, new: int, fl: int) -> None:
        """Copy a whole item into `new` and swap it in (do_item_replace: new CAS, time, head)."""
        e = self.e
        mm = e._mm
        size = e._classes.sizes[self.src]
        ntotal = size if fl & ITEM_CHUNKED else e._item_ntotal(it)
        mm[new : new + ntotal] = mm[it : it + ntotal]
        Q.pack_into(mm, new + OFF_NEXT, 0)
        Q.pack_into(mm, new + OFF_PREV, 0)
        Q.pack_into(mm, new + 16, 0)
        H16.pack_into(mm, new + OFF_FLAGS, fl & ~ITEM_LINKED)
        H16.pack_into(mm, new + OFF_REFCOUNT, 1)  # the link's reference (engine convention)
        I32.pack_into(mm, new + OFF_TIME, e.clock.now)  # do_item_link stamps the access time
        hv = e._hash(e._item_key(it))
        e._item_hold(it)
        e._item_unlink(it, hv)
        e._item_link(new, hv)
        if fl & ITEM_CHUNKED:
            # the copied item_chunk still points at the chain: repoint every chunk's head
            ch = e._item_data_off(new)
            while ch:
                Q.pack_into(mm, ch + OFF_CHUNK_HEAD, new)
                ch = Q.unpack_from(mm, ch + OFF_NEXT)[0]
        self._clear(it)

    def _rescue_chunk(self, ch: int, new: int) -> None:
        """Move one chained data chunk into `new`, fixing its neighbours' links."""
        mm = self.e._mm
        used = I32.unpack_from(mm, ch + OFF_CHUNK_USED)[0]
        nxt = Q.unpack_from(mm, ch + OFF_NEXT)[0]
        prv = Q.unpack_from(mm, ch + OFF_PREV)[0]
        mm[new : new + CHUNK_HEADER_SIZE + used] = mm[ch : ch + CHUNK_HEADER_SIZE + used]
        if prv:
            Q.pack_into(mm, prv + OFF_NEXT, new)
        else:
            # the first data chunk hangs off the item_chunk inside the head item
            head = Q.unpack_from(mm, ch + OFF_CHUNK_HEAD)[0]
            Q.pack_into(mm, self.e._item_data_off(head), new)
        if nxt:
            Q.pack_into(mm, nxt + OFF_PREV, new)
        self._clear(ch)

    def _finish(self) -> None:
        """slab_rebalance_finish: hand the clean page to dst (or the pool) and publish stats."""
        e = self.e
        arena = e._arena
        page = self._page
        assert page is not None
        src, dst = self.src, self.dst
        if src == SLAB_GLOBAL_PAGE_POOL:
            arena.pool.remove(page)
        else:
            arena.pages[src].remove(page)
        start = page * arena.page_size
        if dst != SLAB_GLOBAL_PAGE_POOL:
            arena.mm[start : start + arena.page_size] = bytes(arena.page_size)
            arena.pages[dst].append(page)
            arena.page_owner[page] = dst
            arena._split_into_freelist(page, dst)
        else:
            arena.mm[start : start + 48] = bytes(48)
            arena.pool.append(page)
            arena.page_owner[page] = SLAB_GLOBAL_PAGE_POOL
            arena.release_pool_pages()
        g = e._g
        g["slabs_moved"] += 1
        for name, n in self._counts.items():
            g["slab_reassign_" + name] += n
            self._counts[name] = 0
        self._page = None
        self._chunks = []
        self._completed = bytearray()
        self._done = False
        self.signal = 0

    # -- automove ---------------------------------------------------------------------------

    def set_automove(self, mode: int) -> bool:
        """`slabs automove <0|1|2>`; False for other modes (memcached replies ERROR)."""
        if mode not in (0, 1, 2):
            return False
        self.e.cfg.slab_automove = mode
        return True

    def set_ratio(self, ratio: float) -> bool:
        self.e.cfg.slab_automove_ratio = ratio
        return True

    def on_evict(self, cls: int) -> None:
        """Mode 2 ("angry birds"): every eviction asks for a page toward this class."""
        if self.e.cfg.slab_automove == 2:
            self.reassign(-1, cls)

    def _automove_reset(self) -> None:
        cfg = self.e.cfg
        self._ratio = cfg.slab_automove_ratio
        self._wsize = max(1, cfg.slab_automove_window)
        self._window = [[_Sample() for _ in range(self._wsize)] for _ in range(NUM_CLASSES)]
        self._wcur = 0
        self._before = self._snapshot()

    def _cold_age(self, cls: int, now: int) -> int:
        """COLD tail age, stepping over a crawler marker."""
        e = self.e
        off = e._tails[cls | 128]
        while off and e._arena.is_marker(off):
            off = Q.unpack_from(e._mm, off + OFF_PREV)[0]
        return now - I32.unpack_from(e._mm, off + OFF_TIME)[0] if off else 0

    def _snapshot(self) -> list[_Snap]:
        e = self.e
        ist = e._istats
        arena = e._arena
        now = e.clock.now
        perslab = e._classes.perslab
        largest = e._classes.power_largest
        out = []
        for cls in range(NUM_CLASSES):
            real = 1 <= cls <= largest
            out.append(
                _Snap(
                    ist["evicted"][cls],
                    ist["outofmemory"][cls],
                    len(arena.pages[cls]) if real else 0,
                    arena.sl_curr[cls] if real else 0,
                    perslab[cls] if real else 0,
                    self._cold_age(cls, now) if real else 0,
                )
            )
        return out

    def tick(self) -> None:
        """From engine.tick(): mode 1 runs at most once per clock second."""
        cfg = self.e.cfg
        if cfg.slab_automove != 1 or not cfg.slab_reassign or not cfg.lru_maintainer:
            return
        now = self.e.clock.now
        if self._last_automove == now:
            return
        self._automove_step()

    def _automove_step(self) -> None:
        if self._ratio != self.e.cfg.slab_automove_ratio:
            self._automove_reset()  # memcached re-inits the window when the ratio changes
        decision = self.decide()
        if decision is not None:
            self.reassign(*decision)
        if decision is not None and decision[1] == SLAB_GLOBAL_PAGE_POOL:
            self._recheck = True  # reclaiming: look again as soon as the mover is idle
        else:
            self._last_automove = self.e.clock.now

    def decide(self) -> tuple[int, int] | None:
        """slab_automove_run: take one sample of every class and pick (src, dst) or None."""
        after = self._snapshot()
        before = self._before
        w = self._wsize
        evicted_total = sum(after[n].evicted - before[n].evicted for n in range(1, NUM_CLASSES))
        self._wcur += 1
        decision: tuple[int, int] | None = None
        oldest, oldest_age = -1, 0
        youngest, youngest_age, youngest_evicting = -1, None, False
        for n in range(1, NUM_CLASSES):
            a, b = after[n], before[n]
            sample = _Sample(age=a.age)
            if a.evicted > b.evicted or a.outofmemory > b.outofmemory:
                sample.evicted = sample.dirty = True
            if a.total_pages > b.total_pages:
                sample.dirty = True
            if evicted_total:
                sample.share = (a.evicted - b.evicted) / evicted_total
            win = self._window[n]
            win[self._wcur % w] = sample
            age = sum(s.age for s in win) // w
            if a.free_chunks > a.perslab * MIN_PAGES_FOR_RECLAIM and not any(s.dirty for s in win):
                decision = (n, SLAB_GLOBAL_PAGE_POOL)
                break
            if age > oldest_age and a.total_pages > MIN_PAGES_FOR_SOURCE:
                oldest, oldest_age = n, age
            evicting = sum(s.evicted for s in win)
            share = sum(s.share for s in win) / w
            if (youngest_age is None or age < youngest_age) and (evicting > w // 2 or share > 0.25):
                youngest, youngest_age, youngest_evicting = n, age, sample.evicted
        self._before = after
        if decision is not None:
            return decision
        if (
            youngest != -1
            and oldest != -1
            and youngest_age is not None
            and self._wcur > w
            and youngest_age < oldest_age * self._ratio
            and youngest_evicting
        ):
            return (oldest, youngest)
        return None


__all__ = ["ReassignResult", "SlabMover"]
