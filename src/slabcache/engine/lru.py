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

import struct

from .arena import FREE_HDR
from .items import (
    CLSID_MASK,
    COLD_LRU,
    H16,
    HDR,
    HOT_LRU,
    I32,
    ITEM_ACTIVE,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    ITEM_LINKED,
    ITEM_SLABBED,
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
    REF_FLAGS,
    TEMP_LRU,
    WARM_LRU,
    Q,
)

# prev link, time, exptime, refcount, it_flags: what a tail pull looks at, in one read
_TAIL = struct.Struct("<8xQ8xII4xHH")
_LINKED = struct.Struct("<QQ16xI2xHBB")  # next, prev, nbytes, it_flags, clsid, nkey
# it_flags of an item whose chunk an eviction can hand straight over: linked, not chunked
TAKE_MASK = ITEM_LINKED | ITEM_CHUNKED
LRU_PULL_EVICT = 1
LRU_PULL_CRAWL_BLOCKS = 2
TAIL_TRIES = 5
ALLOC_TRIES = 10
NUM_LRUS = 256
ITEM_LOCK_POWER = 12  # thread.c: item_lock_hashpower for memcached's default -t 4


class LruMixin:
    # provided by the engine
    _mm: object
    _key_off: int

    def _lru_init(self) -> None:
        # memcached's item locks: 2**12 of them with its default 4 threads (fewer when the
        # hash table is smaller); set while a store or delta allocates under one
        hp = self.cfg.hashpower_init or 16
        self._item_lock_mask = (1 << min(ITEM_LOCK_POWER, hp - 1)) - 1
        self._locked_hv: int | None = None
        self._heads = [0] * NUM_LRUS
        self._tails = [0] * NUM_LRUS
        self._lru_sizes = [0] * NUM_LRUS
        self._lru_bytes = [0] * NUM_LRUS

    # -- item field helpers (cold paths) ----------------------------------------------------

    def _item_ntotal(self, off: int) -> int:
        _t, _e, nbytes, _r, fl, _c, nk = META.unpack_from(self._mm, off + OFF_TIME)
        return 49 + nk + nbytes + (4 if fl & ITEM_CFLAGS else 0) + (8 if fl & ITEM_CAS else 0)

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
        """item_link_q: the item becomes the head of its sub-LRU (links as words)."""
        m64 = self._m64
        heads = self._heads
        head = heads[lru_id]
        o = off >> 3
        m64[o] = head
        m64[o + 1] = 0
        if head:
            m64[(head >> 3) + 1] = off
        else:
            self._tails[lru_id] = off
        heads[lru_id] = off
        self._lru_sizes[lru_id] += 1
        self._lru_bytes[lru_id] += ntotal

    def _relink(self, off: int, to_lru: int) -> None:
        """Move a linked item to the head of another sub-LRU of its class."""
        # hot path (tail pulls under eviction): one header read, both list edits inlined
        mm = self._mm
        m64 = self._m64
        nxt, prv, nbytes, fl, cid, nk = _LINKED.unpack_from(mm, off)
        ntotal = 49 + nk + nbytes + (4 if fl & ITEM_CFLAGS else 0) + (8 if fl & ITEM_CAS else 0)
        heads, tails = self._heads, self._tails
        sizes, nbs = self._lru_sizes, self._lru_bytes
        # in a linked list only the head has no prev and only the tail no next
        if nxt:
            m64[(nxt >> 3) + 1] = prv
        else:
            tails[cid] = prv
        if prv:
            m64[prv >> 3] = nxt
        else:
            heads[cid] = nxt
        sizes[cid] -= 1
        nbs[cid] -= ntotal
        new_id = (cid & CLSID_MASK) | to_lru
        mm[off + OFF_CLSID] = new_id
        head = heads[new_id]
        o = off >> 3
        m64[o] = head
        m64[o + 1] = 0
        if head:
            m64[(head >> 3) + 1] = off
        else:
            tails[new_id] = off
        heads[new_id] = off
        sizes[new_id] += 1
        nbs[new_id] += ntotal

    # -- item lifecycle ---------------------------------------------------------------------

    def _item_unlink(self, off: int, hv: int | None = None) -> None:
        """do_item_unlink: out of the hash and LRU, drop the link's reference."""
        # hot path (evictions, deletes): one header read; hash, list and free inlined
        mm = self._mm
        m64 = self._m64
        nxt, prv, hnext, _t, _e, nbytes, ref, fl, cid, nk = HDR.unpack_from(mm, off)
        if not fl & ITEM_LINKED:
            return
        fl &= ~ITEM_LINKED
        ntotal = 49 + nk + nbytes + (4 if fl & ITEM_CFLAGS else 0) + (8 if fl & ITEM_CAS else 0)
        self._unlink_read(off, nxt, prv, hnext, cid, nk, ntotal, hv)
        # _item_release: the link's reference; the chunk goes back when nobody else holds it
        if ref != 1 or fl & ITEM_CHUNKED:
            m64[off >> 3] = 0
            m64[(off >> 3) + 1] = 0
            REF_FLAGS.pack_into(mm, off + OFF_REFCOUNT, ref - 1, fl)
            if ref == 1:
                self._item_free(off)
            return
        arena = self._arena
        fh = arena.free_head
        c = cid & CLSID_MASK
        head = fh[c]
        FREE_HDR.pack_into(mm, off, head, 0, ITEM_SLABBED, c)
        if head:
            m64[(head >> 3) + 1] = off
        fh[c] = off
        arena.sl_curr[c] += 1

    def _unlink_read(
        self,
        off: int,
        nxt: int,
        prv: int,
        hnext: int,
        cid: int,
        nk: int,
        ntotal: int,
        hv: int | None = None,
    ) -> None:
        """do_item_unlink's counts, hash chain and LRU list steps for a linked item whose
        header (links, clsid, nkey) the caller has read; the link's reference is the
        caller's to drop."""
        m64 = self._m64
        self._bytes -= ntotal
        self._curr_items -= 1
        if self._sizes_hist is not None:
            self._sizes_remove(off, ntotal)
        if hv is None:
            ko = off + self._key_off
            hv = self._hash(self._mm[ko : ko + nk])
        # HashIndex.delete, with h_next already read
        idx = self._index
        tm = idx.fast
        if tm is None:
            table, b = idx.bucket_of(hv)
        else:
            table, mask = tm
            b = hv & mask
        cur = table[b]
        if cur == off:
            table[b] = hnext
        else:
            while cur:
                after = m64[(cur >> 3) + 2]
                if after == off:
                    m64[(cur >> 3) + 2] = hnext
                    break
                cur = after
            else:
                raise AssertionError("item not in its hash chain")
        idx.hash_items -= 1
        # item_unlink_q: in a linked list only the head has no prev and only the tail no next
        if nxt:
            m64[(nxt >> 3) + 1] = prv
        else:
            self._tails[cid] = prv
        if prv:
            m64[prv >> 3] = nxt
        else:
            self._heads[cid] = nxt
        self._lru_sizes[cid] -= 1
        self._lru_bytes[cid] -= ntotal

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
        # hot path under eviction: one read per tail item (prev link and header together),
        # counters looked up only when an event counts
        lru_id = cls | cur_lru
        search = self._tails[lru_id]
        if not search:
            return 0
        mm = self._mm
        now = self.clock.now
        marker_end = self._arena.page_size  # crawler markers live in the header page
        unpack = _TAIL.unpack_from
        removed = 0
        move_to: int | None = None
        found = 0
        tries = TAIL_TRIES
        while tries > 0 and search:
            next_it, t, exptime, ref, fl = unpack(mm, search)
            if search < marker_end:
                # an LRU crawler marker: the maintainer stops here, others step over it
                if flags & LRU_PULL_CRAWL_BLOCKS:
                    return 0
                search = next_it
                continue
            tries -= 1
            if self._locked_hv is not None and self._lock_held(search):
                search = next_it  # item_trylock fails: the caller holds this item's lock
                continue
            if ref != 1:
                ist = self._istats
                ist["lrutail_reflocked"][cls] += 1
                trt = self.cfg.tail_repair_time
                if trt and t + trt < now:
                    ist["tailrepairs"][cls] += 1
                    H16.pack_into(mm, search + OFF_REFCOUNT, 1)
                    self._item_unlink(search)
                    search = next_it
                    continue
            if (exptime and exptime < now) or (
                self._oldest_live is not None and self._is_flushed(t, self._item_cas(search))
            ):
                ist = self._istats
                ist["reclaimed"][cls] += 1
                if not fl & ITEM_FETCHED:
                    ist["expired_unfetched"][cls] += 1
                self._item_unlink(search)
                removed += 1
                search = next_it
                continue
            if cur_lru in (HOT_LRU, WARM_LRU):
                # memcached falls through from HOT to WARM: a HOT limit of 0 takes WARM's pct
                cfg = self.cfg
                limit = total_bytes * cfg.hot_lru_pct // 100 if cur_lru == HOT_LRU else 0
                if limit == 0:
                    limit = total_bytes * cfg.warm_lru_pct // 100
                if fl & ITEM_ACTIVE:
                    H16.pack_into(mm, search + OFF_FLAGS, fl & ~ITEM_ACTIVE)
                    removed += 1
                    if cur_lru == WARM_LRU:
                        self._istats["moves_within_lru"][cls] += 1
                        self._relink(search, WARM_LRU)
                        search = next_it
                        continue
                    self._istats["moves_to_warm"][cls] += 1
                    move_to = WARM_LRU
                elif self._lru_bytes[lru_id] > limit or now - t > max_age:
                    self._istats["moves_to_cold"][cls] += 1
                    move_to = COLD_LRU
                    removed += 1
                found = search
            elif cur_lru == COLD_LRU:
                found = search
                if flags & LRU_PULL_EVICT:
                    if self._evict_to_free:
                        self._count_eviction(cls, now - t, exptime, fl)
                        self._item_unlink(search)
                        removed += 1
                        self._on_evict(cls)
                elif fl & ITEM_ACTIVE and self._segmented:
                    self._istats["moves_to_warm"][cls] += 1
                    H16.pack_into(mm, search + OFF_FLAGS, fl & ~ITEM_ACTIVE)
                    move_to = WARM_LRU
                    removed += 1
            else:  # TEMP: only ever reclaimed when expired
                found = search
            break
        if found and move_to is not None:
            self._relink(found, move_to)
        return removed

    def _lock_held(self, off: int) -> bool:
        """Does the item share the item lock the running store/delta holds? memcached's
        tail pull skips such items (item_trylock fails), the held old item among them."""
        mask = self._item_lock_mask
        return self._hash(self._item_key(off)) & mask == self._locked_hv & mask

    def _on_evict(self, cls: int) -> None:
        """Extension point: automove mode 2 asks for a page move on every eviction."""

    # -- allocation loop ----------------------------------------------------------------------

    def _alloc_pull(self, ntotal: int, cls: int) -> int | None:
        """do_item_alloc_pull: up to 10 rounds of slab alloc, evicting pull, forced HOT->COLD."""
        # hot path under eviction: the slab alloc (free-list pop) is inlined
        arena, fh, pull, page_lens, class_pages, marker_end, tails, evict_counts, reclaims = (
            self._hot_evict
        )
        mm = self._mm
        segmented = self._segmented
        # Arena.new_slab's refusal at the -m limit, checked here first: it is the common case
        limit = arena.mem_limit
        page_len = page_lens[cls]
        pages = class_pages[cls]
        off: int | None = None
        victim = 0  # an evicted item whose chunk is taken (see below)
        i = 0
        while i < ALLOC_TRIES:
            if not segmented:
                pull(cls, COLD_LRU, 0, 0, 0)
            head = fh[cls]
            if (
                not head
                and not (
                    limit and arena.mem_malloced + page_len > limit and pages and not arena.pool
                )
                and arena.new_slab(cls)
            ):
                head = fh[cls]
            if head:
                nxt = Q.unpack_from(mm, head)[0]
                fh[cls] = nxt
                if nxt:
                    Q.pack_into(mm, nxt + OFF_PREV, 0)
                arena.sl_curr[cls] -= 1
                off = head
                break
            if segmented and self._oldest_live is None:
                # hot path: _pull_tail's common cases inlined (a plain tail item: linked once,
                # not a crawler marker, not expired, nothing flushed); anything else goes to
                # _pull_tail, which stays the one full version of lru_pull_tail
                now = self.clock.now
                tail = tails[cls | COLD_LRU]
                evict = self._evict_to_free and self._locked_hv is None
                # the freed chunk heads the free list (LIFO), so the next round pops it: taken
                # here when that round would run and nothing can act in between (_on_evict)
                take = self.cfg.slab_automove != 2
                if tail >= marker_end and evict:
                    nxt, prv, hn, t, exptime, nb, ref, fl, cid, nk = HDR.unpack_from(mm, tail)
                    if ref == 1 and not (exptime and exptime < now):
                        # _count_eviction in line: this is the eviction of nearly every set
                        # once memory is full
                        evicted, ev_time, ev_nonzero, ev_unfetched, ev_active = evict_counts
                        evicted[cls] += 1
                        ev_time[cls] = now - t
                        if exptime:
                            ev_nonzero[cls] += 1
                        if not fl & ITEM_FETCHED:
                            ev_unfetched[cls] += 1
                        if fl & ITEM_ACTIVE:
                            ev_active[cls] += 1
                        i += 1
                        if take and i < ALLOC_TRIES and fl & TAKE_MASK == ITEM_LINKED:
                            victim = tail
                            break
                        self._item_unlink(tail)
                        if not take:
                            self._on_evict(cls)
                        continue
                if tail and pull(cls, COLD_LRU, 0, LRU_PULL_EVICT, 0) > 0:
                    i += 1
                    continue
                # nothing evicted: force the HOT tail down to COLD (total_bytes 0: any size)
                tail = tails[cls | HOT_LRU]
                if tail >= marker_end:
                    nxt, prv, hn, t, exptime, nb, ref, fl, cid, nk = HDR.unpack_from(mm, tail)
                    if ref == 1 and not (exptime and exptime < now) and not fl & ITEM_ACTIVE:
                        self._istats["moves_to_cold"][cls] += 1
                        if (
                            evict
                            and take
                            and i + 2 < ALLOC_TRIES
                            and not tails[cls | COLD_LRU]
                            and fl & TAKE_MASK == ITEM_LINKED
                        ):
                            # COLD is empty: the next round evicts this item as its tail and
                            # the one after pops its chunk; both done here, COLD's counts
                            # going up and down again are left out
                            self._count_eviction(cls, now - t, exptime, fl)
                            victim = tail
                            i += 2
                            break
                        self._relink(tail, COLD_LRU)
                        i += 1
                        continue
                if tail:
                    pull(cls, HOT_LRU, 0, 0, 0)
            elif pull(cls, COLD_LRU, 0, LRU_PULL_EVICT, 0) <= 0:
                if segmented:
                    pull(cls, HOT_LRU, 0, 0, 0)
                else:
                    break
            i += 1
        if victim:
            # do_item_unlink of the evicted item (the header already read above), its chunk
            # kept for the new item instead of a free-list push + pop (every caller writes a
            # whole new header over the old one)
            ntotal = 49 + nk + nb + (4 if fl & ITEM_CFLAGS else 0) + (8 if fl & ITEM_CAS else 0)
            self._unlink_read(victim, nxt, prv, hn, cid, nk, ntotal)
            off = victim
        if i:
            reclaims[cls] += i
        return off  # outofmemory is do_item_alloc's count, for the item's class: callers

    def _count_eviction(self, cls: int, age: int, exptime: int, fl: int) -> None:
        """lru_pull_tail's counters for an item it evicts."""
        evicted, ev_time, ev_nonzero, ev_unfetched, ev_active = self._evict_counts
        evicted[cls] += 1
        ev_time[cls] = age
        if exptime:
            ev_nonzero[cls] += 1
        if not fl & ITEM_FETCHED:
            ev_unfetched[cls] += 1
        if fl & ITEM_ACTIVE:
            ev_active[cls] += 1

    def _entry_lru(self, exptime: int) -> int:
        """Which sub-LRU a new item enters (do_item_alloc)."""
        if self._temp_lru and (exptime - self.clock.now) & 0xFFFFFFFF <= self._temporary_ttl:
            return TEMP_LRU
        return HOT_LRU if self._segmented else COLD_LRU


__all__ = ["LRU_MASK", "LruMixin"]
