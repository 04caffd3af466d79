"""The per-request fast paths: `get` and `store` (SET of a slab-sized item), fully inlined.

Written for speed, not reading: these two run once per request, so each does one hash, one
bucket-chain walk (remembering the predecessor, so an overwritten item leaves its chain
without a second walk), one struct read of the header, and writes the new item's whole header
(links, times, sizes, flags, class, CAS) in a single pack once its LRU and hash neighbours
are known. The steps and their order are memcached's do_item_get / do_store_item /
do_item_alloc_pull / do_item_replace; every other mode, chunked and too-large items and the
`stats sizes` bookkeeping take the general path in store.py (`_store_mode`).

The engine mixes this in; it provides the arena, index, LRU lists and counters.
"""

from __future__ import annotations

from .arena import FREE_HDR
from .items import (
    H16,
    I32,
    ITEM_ACTIVE,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    ITEM_LINKED,
    ITEM_SLABBED,
    LINKED_HDR,
    LINKED_HDR_CAS,
    LINKS,
    META,
    META_CAS,
    NUL_FLAGS,
    REF_FLAGS,
    Q,
)

_U64 = Q.unpack_from
_P64 = Q.pack_into
_META = META.unpack_from
_META_CAS = META_CAS.unpack_from
_CRLF = b"\r\n"


class HotPathMixin:
    def get(self, key: bytes) -> tuple[int, bytes, int] | None:
        # hot path: do_item_get + bump + value read, inlined
        g = self._g
        g["cmd_get"] += 1
        hv = self._hash(key)
        idx = self._index
        if idx.expanding:
            table, b = idx.bucket_of(hv)
            off = table[b]
        else:
            off = idx.primary[hv & idx.mask]
        mm = self._mm
        nk = len(key)
        ko = self._key_off
        while off:
            if mm[off + 41] == nk and mm[off + ko : off + ko + nk] == key:
                break
            off = _U64(mm, off + 16)[0]
        else:
            g["get_misses"] += 1
            return None
        if self._use_cas:
            t, exptime, nbytes, _r, fl, cid, _nk, cas = _META_CAS(mm, off + 24)
        else:
            t, exptime, nbytes, _r, fl, cid, _nk = _META(mm, off + 24)
            cas = 0
        if self._oldest_live is not None and self._is_flushed(t, cas):
            self._item_unlink(off, hv)
            g["get_flushed"] += 1
            g["get_misses"] += 1
            return None
        if exptime and exptime <= self.clock.now:
            self._item_unlink(off, hv)
            g["get_expired"] += 1
            g["get_misses"] += 1
            return None
        if not fl & ITEM_ACTIVE:
            if not fl & ITEM_FETCHED and self._segmented:
                H16.pack_into(mm, off + 38, fl | ITEM_FETCHED)  # first hit: FETCHED only
            else:
                self._bump(off, fl, cid)
        elif not self._segmented:
            self._bump(off, fl, cid)
        self._lru_hits[cid] += 1
        p = off + ko + nk + 1
        if fl & (ITEM_CFLAGS | ITEM_CHUNKED):
            if fl & ITEM_CFLAGS:
                flags = I32.unpack_from(mm, p)[0]
                p += 4
            else:
                flags = 0
            if fl & ITEM_CHUNKED:
                return flags, self._read_data(off, fl, p, nbytes), cas
            return flags, mm[p : p + nbytes], cas
        return 0, mm[p : p + nbytes], cas

    def store(
        self,
        mode: object,
        key: bytes,
        flags: int,
        exptime: int,
        value: bytes,
        cas_in: int | None = None,
    ) -> object:
        # hot path: SET of an item that fits a slab chunk, alloc + lookup + replace inlined
        nkey = len(key)
        nbytes = len(value) + 2
        ntotal = self._base_ntotal + nkey + nbytes + (4 if flags else 0)
        if mode is not self._SET or ntotal > self._fast_max or self._sizes_hist is not None:
            return self._store_mode(mode, key, flags, exptime, value, cas_in)
        now = self.clock.now
        exp = self._realtime(exptime) if exptime else 0
        hv = self._hash(key)
        cls = self._cls_of[(ntotal + 7) >> 3]
        mm = self._mm
        segmented = self._segmented
        arena = self._arena
        fh = arena.free_head
        off = fh[cls]
        if off and segmented:
            # do_slabs_alloc: pop the free-list head
            nxt = _U64(mm, off)[0]
            fh[cls] = nxt
            if nxt:
                _P64(mm, nxt + 8, 0)
            arena.sl_curr[cls] -= 1
        else:
            off = self._alloc_pull(ntotal, cls)
            if off is None:
                return self._set_no_memory(key, hv)
        # key, NUL, [client flags], data, CRLF; the header follows once its links are known
        ko = self._key_off
        p = off + ko
        mm[p : p + nkey] = key
        p += nkey
        if flags:
            NUL_FLAGS.pack_into(mm, p, 0, flags)
            p += 5
            it_flags = ITEM_LINKED | ITEM_CFLAGS
        else:
            mm[p] = 0
            p += 1
            it_flags = ITEM_LINKED
        p2 = p + nbytes - 2
        mm[p:p2] = value
        mm[p2 : p2 + 2] = _CRLF
        self._set_cmds[cls] += 1
        # the sub-LRU it enters: TEMP for short TTLs when enabled, else HOT (COLD when flat)
        lid = cls | self._entry_lru(exp) if self._temp_lru else cls if segmented else cls | 128
        # find the old item, keeping its predecessor in the chain
        idx = self._index
        if idx.expanding:
            table, b = idx.bucket_of(hv)
        else:
            table, b = idx.primary, hv & idx.mask
        old = table[b]
        prev = 0
        while old:
            if mm[old + 41] == nkey and mm[old + ko : old + ko + nkey] == key:
                break
            prev = old
            old = _U64(mm, old + 16)[0]
        heads = self._heads
        tails = self._tails
        lsizes = self._lru_sizes
        lbytes = self._lru_bytes
        if old:
            # do_item_get's liveness counters, then do_item_unlink of the old item
            if self._use_cas:
                ot, oexp, onbytes, oref, ofl, ocid, onk, ocas = _META_CAS(mm, old + 24)
            else:
                ot, oexp, onbytes, oref, ofl, ocid, onk = _META(mm, old + 24)
                ocas = 0
            if self._oldest_live is not None and self._is_flushed(ot, ocas):
                self._g["get_flushed"] += 1
            elif oexp and oexp <= now:
                self._g["get_expired"] += 1
            hn = _U64(mm, old + 16)[0]
            if prev:
                _P64(mm, prev + 16, hn)
            else:
                table[b] = hn
            ofl &= ~ITEM_LINKED
            ontotal = 49 + onk + onbytes + (4 if ofl & ITEM_CFLAGS else 0) + (8 if ofl & 2 else 0)
            nxt, prv = LINKS.unpack_from(mm, old)
            if heads[ocid] == old:
                heads[ocid] = nxt
            if tails[ocid] == old:
                tails[ocid] = prv
            if nxt:
                _P64(mm, nxt + 8, prv)
            if prv:
                _P64(mm, prv, nxt)
            lsizes[ocid] -= 1
            lbytes[ocid] -= ontotal
            if oref != 1 or ofl & ITEM_CHUNKED:
                LINKS.pack_into(mm, old, 0, 0)
                REF_FLAGS.pack_into(mm, old + 36, oref - 1, ofl)
                if oref == 1:
                    self._item_free(old)
            else:
                # do_slabs_free: push onto the class free list
                c = ocid & 63
                fhead = fh[c]
                FREE_HDR.pack_into(mm, old, fhead, 0, ITEM_SLABBED, c)
                if fhead:
                    _P64(mm, fhead + 8, old)
                fh[c] = old
                arena.sl_curr[c] += 1
            self._bytes += ntotal - ontotal
        else:
            idx.hash_items += 1
            self._curr_items += 1
            self._bytes += ntotal
        # do_item_link: LRU head, hash bucket head, then the whole header in one write
        head = heads[lid]
        if head:
            _P64(mm, head + 8, off)
        else:
            tails[lid] = off
        heads[lid] = off
        lsizes[lid] += 1
        lbytes[lid] += ntotal
        bucket = table[b]
        table[b] = off
        if self._use_cas:
            cas = self._next_cas
            self._next_cas = cas + 1
            LINKED_HDR_CAS.pack_into(
                mm, off, head, 0, bucket, now, exp, nbytes, 1, it_flags | ITEM_CAS, lid, nkey,
                cls, cas,
            )  # fmt: skip
        else:
            LINKED_HDR.pack_into(
                mm, off, head, 0, bucket, now, exp, nbytes, 1, it_flags, lid, nkey, cls
            )
        self._g["total_items"] += 1
        return self._STORED
