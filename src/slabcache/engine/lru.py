"""Segmented LRU (items.c): per-class HOT/WARM/COLD/TEMP lists, link/unlink, tail pull, alloc loop.

256 lists indexed by `class | sub-LRU` (HOT 0, WARM 64, COLD 128, TEMP 192); heads and tails
are arena offsets (0 = empty). New items go in at the head; `next` points toward the tail.
Self-exclusion works like memcached's refcounts: a linked, unused item has refcount 1; anyone
holding it (append/incr building a replacement, the bump queue) adds 1. The tail walk treats a
held item as "reflocked" (counted) and may still unlink it, but its chunks are freed only when
the last holder releases it. Nothing here compares hashes, CAS values or keys to find "self".

The engine class mixes this in; it provides _mm, _arena, _index, _hash, clock and the stats.
"""

from __future__ import annotations

from .items import (
    CLSID_MASK,
    COLD_LRU,
    H16,
    HOT_LRU,
    I32,
    ITEM_ACTIVE,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    ITEM_LINKED,
    LINKS,
    LRU_MASK,
    META,
    OFF_CAS,
    OFF_CLSID,
    OFF_FLAGS,
    OFF_NKEY,
    OFF_ORIG_CLSID,
    OFF_PREV,
    OFF_REFCOUNT,
    OFF_TIME,
    TEMP_LRU,
    WARM_LRU,
    Q,
)

LRU_PULL_EVICT = 1
LRU_PULL_CRAWL_BLOCKS = 2
TAIL_TRIES = 5
ALLOC_TRIES = 10
NUM_LRUS = 256


class LruMixin:
    # provided by the engine
    _mm: object
    _key_off: int

    def _lru_init(self) -> None:
        self._heads = [0] * NUM_LRUS
        self._tails = [0] * NUM_LRUS
        self._lru_sizes = [0] * NUM_LRUS
        self._lru_bytes = [0] * NUM_LRUS

    # -- item field helpers (cold paths) ----------------------------------------------------

    def _item_ntotal(self, off: int) -> int:
        mm = self._mm
        nbytes = I32.unpack_from(mm, off + 32)[0]
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        return (
            49
            + mm[off + OFF_NKEY]
            + nbytes
            + (4 if fl & ITEM_CFLAGS else 0)
            + (8 if fl & ITEM_CAS else 0)
        )

    def _item_key(self, off: int) -> bytes:
        ko = off + self._key_off
        return self._mm[ko : ko + self._mm[off + OFF_NKEY]]

    def _item_cas(self, off: int) -> int:
        return Q.unpack_from(self._mm, off + OFF_CAS)[0] if self._use_cas else 0

    def _item_data_off(self, off: int) -> int:
        fl = H16.unpack_from(self._mm, off + OFF_FLAGS)[0]
        return off + self._key_off + self._mm[off + OFF_NKEY] + 1 + (4 if fl & ITEM_CFLAGS else 0)

    def _item_flags(self, off: int) -> int:
        mm = self._mm
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        if not fl & ITEM_CFLAGS:
            return 0
        return I32.unpack_from(mm, off + self._key_off + mm[off + OFF_NKEY] + 1)[0]

    def _set_it_flags(self, off: int, fl: int) -> None:
        H16.pack_into(self._mm, off + OFF_FLAGS, fl)

    def _is_flushed(self, time: int, cas: int) -> bool:
        ol = self._oldest_live
        if ol is None or ol > self.clock.now:
            return False
        oc = self._oldest_cas
        return time <= ol or (oc is not None and self._use_cas and cas < oc)

    # -- list links -------------------------------------------------------------------------

    def _link_q(self, off: int, lru_id: int, ntotal: int) -> None:
        mm = self._mm
        head = self._heads[lru_id]
        LINKS.pack_into(mm, off, head, 0)
        if head:
            Q.pack_into(mm, head + OFF_PREV, off)
        else:
            self._tails[lru_id] = off
        self._heads[lru_id] = off
        self._lru_sizes[lru_id] += 1
        self._lru_bytes[lru_id] += ntotal

    def _unlink_q(self, off: int, lru_id: int, ntotal: int) -> None:
        mm = self._mm
        nxt, prv = LINKS.unpack_from(mm, off)
        if self._heads[lru_id] == off:
            self._heads[lru_id] = nxt
        if self._tails[lru_id] == off:
            self._tails[lru_id] = prv
        if nxt:
            Q.pack_into(mm, nxt + OFF_PREV, prv)
        if prv:
            Q.pack_into(mm, prv, nxt)
        LINKS.pack_into(mm, off, 0, 0)
        self._lru_sizes[lru_id] -= 1
        self._lru_bytes[lru_id] -= ntotal

    def _relink(self, off: int, to_lru: int) -> None:
        """Move a linked item to the head of another sub-LRU of its class."""
        mm = self._mm
        cid = mm[off + OFF_CLSID]
        ntotal = self._item_ntotal(off)
        self._unlink_q(off, cid, ntotal)
        new_id = (cid & CLSID_MASK) | to_lru
        mm[off + OFF_CLSID] = new_id
        self._link_q(off, new_id, ntotal)

    # -- item lifecycle ---------------------------------------------------------------------

    def _item_unlink(self, off: int, hv: int | None = None) -> None:
        """do_item_unlink: out of the hash and LRU, drop the link's reference."""
        mm = self._mm
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        if not fl & ITEM_LINKED:
            return
        H16.pack_into(mm, off + OFF_FLAGS, fl & ~ITEM_LINKED)
        ntotal = self._item_ntotal(off)
        self._bytes -= ntotal
        self._curr_items -= 1
        if self._sizes_hist is not None:
            self._sizes_remove(off, ntotal)
        if hv is None:
            hv = self._hash(self._item_key(off))
        self._index.delete(off, hv)
        self._unlink_q(off, mm[off + OFF_CLSID], ntotal)
        self._item_release(off)

    def _item_release(self, off: int) -> None:
        """do_item_remove: drop one reference; free the chunk(s) at zero."""
        mm = self._mm
        ref = H16.unpack_from(mm, off + OFF_REFCOUNT)[0] - 1
        H16.pack_into(mm, off + OFF_REFCOUNT, ref)
        if ref == 0:
            self._item_free(off)

    def _item_hold(self, off: int) -> None:
        mm = self._mm
        H16.pack_into(mm, off + OFF_REFCOUNT, H16.unpack_from(mm, off + OFF_REFCOUNT)[0] + 1)

    def _item_free(self, off: int) -> None:
        mm = self._mm
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        arena = self._arena
        if fl & ITEM_CHUNKED:
            ch = Q.unpack_from(mm, self._item_data_off(off))[0]
            while ch:
                nxt = Q.unpack_from(mm, ch)[0]
                arena.free(ch, mm[ch + OFF_CLSID])
                ch = nxt
            arena.free(off, mm[off + OFF_ORIG_CLSID])
        else:
            arena.free(off, mm[off + OFF_CLSID] & CLSID_MASK)

    # -- tail pull ---------------------------------------------------------------------------

    def _pull_tail(self, cls: int, cur_lru: int, total_bytes: int, flags: int, max_age: int) -> int:
        """lru_pull_tail: look at up to 5 tail items; reclaim, evict or move. Returns removed."""
        mm = self._mm
        lru_id = cls | cur_lru
        now = self.clock.now
        ist = self._istats
        is_marker = self._arena.is_marker
        removed = 0
        move_to: int | None = None
        found = 0
        search = self._tails[lru_id]
        tries = TAIL_TRIES
        while tries > 0 and search:
            next_it = Q.unpack_from(mm, search + OFF_PREV)[0]
            if is_marker(search):
                # an LRU crawler marker: the maintainer stops here, others step over it
                if flags & LRU_PULL_CRAWL_BLOCKS:
                    return 0
                search = next_it
                continue
            tries -= 1
            t, exptime, _nbytes, ref, fl, _cid, _nk = META.unpack_from(mm, search + OFF_TIME)
            if ref != 1:
                ist["lrutail_reflocked"][cls] += 1
                trt = self.cfg.tail_repair_time
                if trt and t + trt < now:
                    ist["tailrepairs"][cls] += 1
                    H16.pack_into(mm, search + OFF_REFCOUNT, 1)
                    self._item_unlink(search)
                    search = next_it
                    continue
            if (exptime and exptime < now) or self._is_flushed(t, self._item_cas(search)):
                ist["reclaimed"][cls] += 1
                if not fl & ITEM_FETCHED:
                    ist["expired_unfetched"][cls] += 1
                self._item_unlink(search)
                removed += 1
                search = next_it
                continue
            if cur_lru == HOT_LRU or cur_lru == WARM_LRU:
                # memcached falls through from HOT to WARM: a HOT limit of 0 takes WARM's pct
                limit = total_bytes * self.cfg.hot_lru_pct // 100 if cur_lru == HOT_LRU else 0
                if limit == 0:
                    limit = total_bytes * self.cfg.warm_lru_pct // 100
                if fl & ITEM_ACTIVE:
                    self._set_it_flags(search, fl & ~ITEM_ACTIVE)
                    removed += 1
                    if cur_lru == WARM_LRU:
                        ist["moves_within_lru"][cls] += 1
                        self._relink(search, WARM_LRU)
                        search = next_it
                        continue
                    ist["moves_to_warm"][cls] += 1
                    move_to = WARM_LRU
                elif self._lru_bytes[lru_id] > limit or now - t > max_age:
                    ist["moves_to_cold"][cls] += 1
                    move_to = COLD_LRU
                    removed += 1
                found = search
            elif cur_lru == COLD_LRU:
                found = search
                if flags & LRU_PULL_EVICT:
                    if self._evict_to_free:
                        ist["evicted"][cls] += 1
                        ist["evicted_time"][cls] = now - t
                        if exptime:
                            ist["evicted_nonzero"][cls] += 1
                        if not fl & ITEM_FETCHED:
                            ist["evicted_unfetched"][cls] += 1
                        if fl & ITEM_ACTIVE:
                            ist["evicted_active"][cls] += 1
                        self._item_unlink(search)
                        removed += 1
                        self._on_evict(cls)
                elif fl & ITEM_ACTIVE and self._segmented:
                    ist["moves_to_warm"][cls] += 1
                    self._set_it_flags(search, fl & ~ITEM_ACTIVE)
                    move_to = WARM_LRU
                    removed += 1
            else:  # TEMP: only ever reclaimed when expired
                found = search
            break
        if found and move_to is not None:
            self._relink(found, move_to)
        return removed

    def _on_evict(self, cls: int) -> None:
        """Extension point: automove mode 2 asks for a page move on every eviction."""

    # -- allocation loop ----------------------------------------------------------------------

    def _alloc_pull(self, ntotal: int, cls: int) -> int | None:
        """do_item_alloc_pull: up to 10 rounds of slab alloc, evicting pull, forced HOT->COLD."""
        arena = self._arena
        segmented = self._segmented
        pull = self._pull_tail
        off: int | None = None
        i = 0
        while i < ALLOC_TRIES:
            if not segmented:
                pull(cls, COLD_LRU, 0, 0, 0)
            off = arena.alloc(cls)
            if off is not None:
                break
            if pull(cls, COLD_LRU, 0, LRU_PULL_EVICT, 0) <= 0:
                if segmented:
                    pull(cls, HOT_LRU, 0, 0, 0)
                else:
                    break
            i += 1
        if i:
            self._istats["direct_reclaims"][cls] += i
        if off is None:
            self._istats["outofmemory"][cls] += 1
        return off

    def _entry_lru(self, exptime: int) -> int:
        """Which sub-LRU a new item enters (do_item_alloc)."""
        if self._temp_lru and (exptime - self.clock.now) & 0xFFFFFFFF <= self._temporary_ttl:
            return TEMP_LRU
        return HOT_LRU if self._segmented else COLD_LRU


__all__ = ["LRU_MASK", "LruMixin"]
