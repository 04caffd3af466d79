"""The per-request fast paths: `get` and `store` (SET of a slab-sized item), fully inlined.

Written for speed, not reading: these two run once per request. Each does one hash and one
bucket-chain walk (remembering the predecessor, so an overwritten item leaves its chain
without a second walk) and reads the header in one struct call; links are read and written
as 64-bit words through the arena's word view (offsets are 8-aligned). A SET writes the new
item's whole header and key (links, times, sizes, flags, class, CAS, key, NUL, client flags)
in one pack once its LRU and hash neighbours are known. When the old item's chunk goes back
to the class the new one was popped from, the pop and the push are done as one swap of the
free-list head; the resulting memory is the same as popping then pushing.

The steps and their order are memcached's do_item_get / do_store_item / do_item_alloc_pull /
do_item_replace. Other modes, chunked and too-large items and the `stats sizes` bookkeeping
take the general path in store.py (`_store_mode`).

The engine mixes this in; it provides the arena, index, LRU lists and counters, and hands
them over as two tuples of locals (`_hot_get`, `_hot_set`: one attribute read instead of a
dozen), remade when the arena's word view is remade.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .arena import FREE_HDR
from .items import (
    COLD_LRU,
    H16,
    I32,
    ITEM_ACTIVE,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    ITEM_LINKED,
    ITEM_SLABBED,
    LRU_MASK,
    REF_FLAGS,
)

_H16 = H16.pack_into
_I32 = I32.pack_into
_CRLF = b"\r\n"

PackInto = Callable[..., None]
Unpack = Callable[..., tuple]


def _bare(r: tuple[int, bytes, int] | None) -> bytes | tuple[int, bytes] | None:
    """get's result as get_values gives it: the value alone when there are no client flags."""
    return None if r is None else (r[0], r[1]) if r[0] else r[1]


class HotPathMixin:
    def _hot_locals(self) -> None:
        """The objects the hot paths use, as tuples (list identities never change)."""
        arena = self._arena
        ist = self._istats  # counter lists are cleared in place, so these stay valid
        self._evict_counts = (
            ist["evicted"], ist["evicted_time"], ist["evicted_nonzero"],
            ist["evicted_unfetched"], ist["evicted_active"],
        )  # fmt: skip
        if not hasattr(self, "_get_unpackers"):
            self._get_unpackers: list[Unpack | None] = [None] * 256
            self._set_unpackers: list[Unpack | None] = [None] * 256
            self._lean_unpackers: list[Unpack | None] = [None] * 256
        # a hit's it_flags when it needs no bump, no client flags and no chunk walk (segmented
        # LRU only: flat mode bumps every hit); -1 matches nothing. Remade by lru_mode.
        steady = ITEM_LINKED | ITEM_FETCHED | ITEM_ACTIVE | (ITEM_CAS if self._use_cas else 0)
        self._hot_get = (
            self._g, self._hash, self._index, self._mm, self._m64, self._key_off,
            self._use_cas, self._lru_hits, self._get_unpackers,
            steady if self._segmented else -1,
        )  # fmt: skip
        self._hot_evict = (
            arena, arena.free_head, self._pull_tail, arena._page_lens, arena.pages,
            arena.page_size, self._tails, self._evict_counts, ist["direct_reclaims"],
        )  # fmt: skip
        self._hot_set = (
            self._g, self._hash, self._index, self._mm, self._key_off, self._use_cas,
            self._set_cmds, arena, arena.free_head, self._heads, self._tails, self._lru_sizes,
            self._lru_bytes, self._cls_of, self._base_ntotal, self._fast_max, self._hdr_packers,
            self.clock, self._set_unpackers,
        )  # fmt: skip

    def _unpackers(self, nkey: int) -> tuple[Unpack, Unpack]:
        """unpack_from for a lookup: header fields and a key-length window at the key, so one
        call both matches a chain entry and reads it (from offset 24 for get, 0 for set)."""
        cas = "Q" if self._use_cas else ""
        get = struct.Struct(f"<IIIHHBB6x{cas}{nkey}s").unpack_from
        put = struct.Struct(f"<QQQIIIHHBB6x{cas}{nkey}s").unpack_from
        self._get_unpackers[nkey] = get
        self._set_unpackers[nkey] = put
        return get, put

    def _lean_unpacker(self, nkey: int) -> Unpack:
        """unpack_from at offset 24 for get_values: time, exptime, nbytes, it_flags, clsid,
        nkey, CAS and a key-length window; refcount is skipped. Without CAS the CAS field
        reads the header's padding: only _is_flushed looks at it, and only with CAS."""
        cas = "6xQ" if self._use_cas else "H4x"
        up = struct.Struct(f"<III2xHBB{cas}{nkey}s").unpack_from
        self._lean_unpackers[nkey] = up
        return up

    def _header_packer(self, nkey: int, with_flags: bool) -> PackInto:
        """pack_into for a linked header + key + NUL [+ client flags], one per key length."""
        fmt = "<QQQIIIHHBBB5x" + ("Q" if self._use_cas else "") + f"{nkey}sx"
        pk = struct.Struct(fmt + ("I" if with_flags else "")).pack_into
        self._hdr_packers[nkey << 1 | with_flags] = pk
        return pk

    def get(self, key: bytes) -> tuple[int, bytes, int] | None:
        # hot path: do_item_get + bump + value read, inlined
        # cmd_get is not counted here: every get is a hit (lru_hits) or a miss, and
        # stats_general adds the two
        g, hsh, idx, mm, m64, ko, use_cas, lru_hits, unpackers, steady = self._hot_get
        hv = hsh(key)
        tm = idx.fast
        if tm is None:
            table, b = idx.bucket_of(hv)
            off = table[b]
        else:
            table, mask = tm
            off = table[hv & mask]
        nk = len(key)
        try:
            up = unpackers[nk] or self._unpackers(nk)[0]
        except IndexError:  # longer than any stored key (nkey is one byte)
            g["get_misses"] += 1
            return None
        if use_cas:
            while off:
                t, exptime, nbytes, _r, fl, cid, onk, cas, okey = up(mm, off + 24)
                if okey == key and onk == nk:
                    break
                off = m64[(off >> 3) + 2]
            else:
                g["get_misses"] += 1
                return None
        else:
            while off:
                t, exptime, nbytes, _r, fl, cid, onk, okey = up(mm, off + 24)
                if okey == key and onk == nk:
                    break
                off = m64[(off >> 3) + 2]
            else:
                g["get_misses"] += 1
                return None
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
        if fl == steady:
            lru_hits[cid] += 1
            p = off + ko + nk + 1
            return 0, mm[p : p + nbytes], cas
        if not fl & ITEM_ACTIVE:
            if not self._segmented:
                self._bump(off, fl, cid)
            elif not fl & ITEM_FETCHED:
                _H16(mm, off + 38, fl | ITEM_FETCHED)  # first hit: FETCHED only
            elif cid & LRU_MASK != COLD_LRU:
                # a later hit outside COLD: ACTIVE and the access time (_bump's common case)
                _H16(mm, off + 38, fl | ITEM_ACTIVE)
                _I32(mm, off + 24, self.clock.now)
            else:
                self._bump(off, fl, cid)  # COLD: the async move to WARM
        elif not self._segmented:
            self._bump(off, fl, cid)
        lru_hits[cid] += 1
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

    def get_values(self, keys: list[bytes]) -> list[bytes | tuple[int, bytes] | None]:
        """The values `[self.get(k) for k in keys]` would return, with the same counters and
        item changes: None for a miss, the value (CRLF included) for a hit without client
        flags, else (flags, value). For the reads that send no CAS (get lines, mg runs): a
        bare value spares a tuple per key.

        One loop with the hot locals unpacked once and misses counted once. Only the common
        hit (live, already FETCHED and ACTIVE, nothing to bump) is served here, with a header
        read that skips the fields it does not need; any other hit goes through `get`, which
        redoes the lookup (nothing was changed by this one). Keys are looked up in order,
        each reading the chain afresh, so a repeated key or an item unlinked by an earlier
        key is seen as `get` would see it. Hash expansion and the flat LRU (every hit bumps)
        take the per-key path.
        """
        g, hsh, idx, mm, m64, ko, _cas, lru_hits, _, steady = self._hot_get
        tm = idx.fast
        get = self.get
        if tm is None or steady < 0:
            return [_bare(r) for r in map(get, keys)]
        table, mask = tm
        now = self.clock.now
        flushing = self._oldest_live is not None
        lean = self._lean_unpackers
        res: list[bytes | tuple[int, bytes] | None] = []
        out = res.append
        misses = 0
        lastnk = -1
        for key in keys:
            nk = len(key)
            if nk != lastnk:
                if nk > 255:  # longer than any stored key: `get` counts the miss
                    get(key)
                    out(None)
                    continue
                up = lean[nk] or self._lean_unpacker(nk)
                lastnk = nk
                vo = ko + nk + 1
            off = table[hsh(key) & mask]
            while off:
                t, exptime, nbytes, fl, cid, onk, cas, okey = up(mm, off + 24)
                if okey == key and onk == nk:
                    break
                off = m64[(off >> 3) + 2]
            else:
                misses += 1
                out(None)
                continue
            if (
                fl != steady
                or (exptime and exptime <= now)
                or (flushing and self._is_flushed(t, cas))
            ):
                out(_bare(get(key)))
                continue
            lru_hits[cid] += 1
            p = off + vo
            out(mm[p : p + nbytes])
        if misses:
            g["get_misses"] += misses
        return res

    def store(
        self,
        mode: object,
        key: bytes,
        flags: int,
        exptime: int,
        value: bytes | memoryview,  # any buffer: it is copied into the item
        cas_in: int | None = None,
        crlf: bool = False,  # the value ends with its block's "\r\n", as received
    ) -> object:
        # hot path: SET of an item that fits a slab chunk, alloc + lookup + replace inlined
        (g, hsh, idx, mm, ko, use_cas, set_cmds, arena, fh, heads, tails, lsizes, lbytes, cls_of,
         base, fast_max, packers, clock, unpackers) = self._hot_set  # fmt: skip
        nkey = len(key)
        nbytes = len(value) if crlf else len(value) + 2
        ntotal = base + nkey + nbytes + (4 if flags else 0)
        if mode is not self._SET or ntotal > fast_max or self._sizes_hist is not None:
            return self._store_mode(
                mode, key, flags, exptime, value[:-2] if crlf else value, cas_in
            )
        now = clock.now
        exp = self._realtime(exptime) if exptime else 0
        hv = hsh(key)
        cls = cls_of[(ntotal + 7) >> 3]
        off = fh[cls]
        segmented = self._segmented
        if off and segmented:
            # do_slabs_alloc pops the free-list head; the list is updated below (see swap)
            m64 = self._m64
            popped = m64[off >> 3]
            pending = True
        else:
            off = self._alloc_pull(ntotal, cls)
            if off is None:
                self._istats["outofmemory"][cls] += 1
                return self._set_no_memory(key, hv)
            m64 = self._m64  # after the alloc: a new page may have remapped the arena
            popped = 0
            pending = False
        set_cmds[cls] += 1
        # the sub-LRU it enters: TEMP for short TTLs when enabled, else HOT (COLD when flat)
        lid = cls | self._entry_lru(exp) if self._temp_lru else cls if segmented else cls | 128
        # find the old item, keeping its predecessor in the chain
        tm = idx.fast
        if tm is None:
            table, b = idx.bucket_of(hv)
        else:
            table, mask = tm
            b = hv & mask
        old = table[b]
        prev = 0
        up = unpackers[nkey] or self._unpackers(nkey)[1]
        if use_cas:
            while old:
                nxt, prv, hn, ot, oexp, onbytes, oref, ofl, ocid, onk, ocas, okey = up(mm, old)
                if okey == key and onk == nkey:
                    break
                prev = old
                old = hn
        else:
            while old:
                nxt, prv, hn, ot, oexp, onbytes, oref, ofl, ocid, onk, okey = up(mm, old)
                if okey == key and onk == nkey:
                    break
                prev = old
                old = hn
            ocas = 0
        if old:
            # do_item_get's liveness counters, then do_item_unlink of the old item
            if self._oldest_live is not None and self._is_flushed(ot, ocas):
                g["get_flushed"] += 1
            elif oexp and oexp <= now:
                g["get_expired"] += 1
            if prev:
                m64[(prev >> 3) + 2] = hn
            else:
                table[b] = hn
            ofl &= ~ITEM_LINKED
            ontotal = 49 + onk + onbytes + (4 if ofl & ITEM_CFLAGS else 0) + (8 if ofl & 2 else 0)
            if heads[ocid] == old:
                heads[ocid] = nxt
            if tails[ocid] == old:
                tails[ocid] = prv
            if nxt:
                m64[(nxt >> 3) + 1] = prv
            if prv:
                m64[prv >> 3] = nxt
            lsizes[ocid] -= 1
            lbytes[ocid] -= ontotal
            c = ocid & 63
            if oref != 1 or ofl & ITEM_CHUNKED:
                if pending:  # _item_free may push chunks onto this class's list
                    fh[cls] = popped
                    if popped:
                        m64[(popped >> 3) + 1] = 0
                    arena.sl_curr[cls] -= 1
                    pending = False
                o = old >> 3
                m64[o] = 0
                m64[o + 1] = 0
                REF_FLAGS.pack_into(mm, old + 36, oref - 1, ofl)
                if oref == 1:
                    self._item_free(old)
            elif pending and c == cls:
                # pop + push on one list: the old chunk takes the popped head's place
                FREE_HDR.pack_into(mm, old, popped, 0, ITEM_SLABBED, c)
                if popped:
                    m64[(popped >> 3) + 1] = old
                fh[c] = old
                pending = False
            else:
                # do_slabs_free: push onto its class's free list
                fhead = fh[c]
                FREE_HDR.pack_into(mm, old, fhead, 0, ITEM_SLABBED, c)
                if fhead:
                    m64[(fhead >> 3) + 1] = old
                fh[c] = old
                arena.sl_curr[c] += 1
            self._bytes += ntotal - ontotal
        else:
            idx.hash_items += 1
            self._curr_items += 1
            self._bytes += ntotal
        if pending:
            fh[cls] = popped
            if popped:
                m64[(popped >> 3) + 1] = 0
            arena.sl_curr[cls] -= 1
        # do_item_link: LRU head, hash bucket head, then header + key in one write
        head = heads[lid]
        if head:
            m64[(head >> 3) + 1] = off
        else:
            tails[lid] = off
        heads[lid] = off
        lsizes[lid] += 1
        lbytes[lid] += ntotal
        bucket = table[b]
        table[b] = off
        if flags:
            pk = packers.get(nkey << 1 | 1) or self._header_packer(nkey, True)
            p = off + ko + nkey + 5
            if use_cas:
                cas = self._next_cas
                self._next_cas = cas + 1
                pk(mm, off, head, 0, bucket, now, exp, nbytes, 1, ITEM_LINKED | ITEM_CAS
                   | ITEM_CFLAGS, lid, nkey, cls, cas, key, flags)  # fmt: skip
            else:
                pk(mm, off, head, 0, bucket, now, exp, nbytes, 1, ITEM_LINKED | ITEM_CFLAGS, lid,
                   nkey, cls, key, flags)  # fmt: skip
        else:
            pk = packers.get(nkey << 1) or self._header_packer(nkey, False)
            p = off + ko + nkey + 1
            if use_cas:
                cas = self._next_cas
                self._next_cas = cas + 1
                pk(mm, off, head, 0, bucket, now, exp, nbytes, 1, ITEM_LINKED | ITEM_CAS, lid,
                   nkey, cls, cas, key)  # fmt: skip
            else:
                pk(mm, off, head, 0, bucket, now, exp, nbytes, 1, ITEM_LINKED, lid, nkey, cls,
                   key)  # fmt: skip
        if crlf:
            mm[p : p + nbytes] = value  # one copy, terminator included
        else:
            p2 = p + nbytes - 2
            mm[p:p2] = value
            mm[p2 : p2 + 2] = _CRLF
        g["total_items"] += 1
        return self._STORED
