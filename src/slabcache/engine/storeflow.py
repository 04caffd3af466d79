"""Two-phase storage: memcached's process_update_command -> conn_nread -> complete_nread.

memcached allocates the item as soon as a storage command line is parsed (which may evict or
fail), reads the value into that held, unlinked item (a chunked item gets each data chunk when
the read reaches it) and only then runs do_store_item, where append/prepend allocate the
combined item while the incoming one is still held. Which items get evicted and which request
fails depends on that order, so the codecs drive the same steps:

    h = engine.alloc_item(mode, key, flags, exptime, nbytes)  # int handle, or a StoreResult
    engine.write_value(h, data)         # False: "SERVER_ERROR Out of memory during read"
    engine.complete_store(h, mode, cas_in, terminator_ok)     # StoreResult; None: bad chunk
    engine.abort_store(h)               # the connection went away (or the read failed)

`nbytes` counts the value's CRLF, as memcached's vlen+2. A text client sends the CRLF, a binary
one does not (`binary=True`: the engine adds it, as complete_update_bin does). The held item
carries the connection's reference (refcount 1); linking it hands that reference to the hash
table and LRU, as do_item_link's incr plus complete_nread's item_remove do.
"""

from __future__ import annotations

import struct
from typing import Any

from .items import (
    CHUNK_HDR,
    CLSID_MASK,
    I32,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNK,
    ITEM_CHUNKED,
    META,
    NEWHDR,
    OFF_TIME,
    Q,
)

_SIZE_USED = struct.Struct("<II")  # item_chunk size, used (from offset 24)
_CRLF = b"\r\n"


class StoreFlowMixin:
    # provided by the engine
    _mm: Any
    _g: dict[str, int]

    def _storeflow_init(self) -> None:
        # handle -> [cursor, bytes still expected, 2 if the engine adds the CRLF else 0];
        # cursor: next byte's offset (one-chunk item) or the current item_chunk (chunked)
        self._filling: dict[int, list[int]] = {}

    # -- allocation (do_item_alloc / do_item_alloc_chunk) -------------------------------------

    def _alloc_header(
        self, key: bytes, flags: int, exptime: int, nbytes: int, ntotal: int
    ) -> int | None:
        """do_item_alloc: the item (or a chunked item's header) without its data."""
        mm = self._mm
        nkey = len(key)
        it_flags = (ITEM_CAS if self._use_cas else 0) | (ITEM_CFLAGS if flags else 0)
        if ntotal <= self._chunk_max:
            cls = self._cls_of[(ntotal + 7) >> 3]
            off = self._alloc_pull(ntotal, cls)
            if off is None:
                self._istats["outofmemory"][cls] += 1
                return None
            NEWHDR.pack_into(mm, off + OFF_TIME, self.clock.now, exptime, nbytes, 1, it_flags,
                             cls | self._entry_lru(exptime), nkey, cls)  # fmt: skip
            hdr_cls = 0
        else:
            pl = self._power_largest
            htotal = self._base_ntotal + nkey + (4 if flags else 0) + 48
            hdr_cls = self._classes.clsid(htotal)
            off = self._alloc_pull(htotal, hdr_cls)
            if off is None:
                self._istats["outofmemory"][pl] += 1  # counted for the item's class, as id
                return None
            NEWHDR.pack_into(mm, off + OFF_TIME, self.clock.now, exptime, nbytes, 1,
                             it_flags | ITEM_CHUNKED, pl | self._entry_lru(exptime), nkey,
                             hdr_cls)  # fmt: skip
        p = off + self._key_off
        mm[p : p + nkey] = key
        p += nkey
        mm[p] = 0
        if flags:
            I32.pack_into(mm, p + 1, flags)
            p += 5
        else:
            p += 1
        if hdr_cls:
            # the header's own item_chunk (size 0): the first write allocates a data chunk
            CHUNK_HDR.pack_into(mm, p, 0, 0, off, 0, 0, 0, ITEM_CHUNK, hdr_cls)
        return off

    def _alloc_chunk(self, ch: int, remain: int) -> int | None:
        """do_item_alloc_chunk: a chunk sized for what is left (a full one if that fails)."""
        chunk_max = self._chunk_max
        size = min(remain + 48, chunk_max)
        cls = self._classes.clsid(size)
        nch = self._alloc_pull(size, cls)
        if nch is None:
            if size == chunk_max:
                return None
            size = chunk_max
            cls = self._classes.clsid(size)
            nch = self._alloc_pull(size, cls)
            if nch is None:
                return None
        mm = self._mm
        head = Q.unpack_from(mm, ch + 16)[0]
        # the first data chunk keeps prev 0: the header's own chunk is not a slab chunk
        prev = 0 if ch == self._chunk0(head) else ch
        CHUNK_HDR.pack_into(mm, nch, 0, prev, head, size - 48, 0, 0, ITEM_CHUNK, cls)
        Q.pack_into(mm, ch, nch)
        return nch

    def _chunk0(self, off: int) -> int:
        """The header's own item_chunk (ITEM_schunk): where a chunked item's data starts."""
        return self._item_data_off(off)

    # -- writing the value (conn_nread / read_into_chunked_item) ------------------------------

    def _write_chunked(self, st: list[int], data: bytes | memoryview) -> bool:
        mm = self._mm
        cur, remaining, extra = st
        n = len(data)
        pos = 0
        ok = True
        while pos < n:
            size, used = _SIZE_USED.unpack_from(mm, cur + 24)
            if size == used:
                nch = self._alloc_chunk(cur, remaining + extra)
                if nch is None:
                    ok = False
                    break
                cur = nch
                continue
            take = min(size - used, n - pos)
            d = cur + 48 + used
            mm[d : d + take] = data[pos : pos + take]
            I32.pack_into(mm, cur + 28, used + take)
            pos += take
            remaining -= take
        st[0] = cur
        st[1] = remaining
        return ok

    def write_value(self, h: int, data: bytes | memoryview) -> bool:
        """The next bytes of the value, as they arrive. False: a data chunk could not be
        allocated ("Out of memory during read"); the caller swallows the rest and aborts."""
        st = self._filling[h]
        if st[1] < len(data):
            raise ValueError("more value bytes than the command declared")
        if self._mm[h + 38] & ITEM_CHUNKED:
            if not self._write_chunked(st, data):
                return False
        else:
            p = st[0]
            self._mm[p : p + len(data)] = data
            st[0] = p + len(data)
            st[1] -= len(data)
        if st[2] and not st[1]:
            return self._add_crlf(h, st)
        return True

    def _add_crlf(self, h: int, st: list[int]) -> bool:
        """Binary protocol: the CRLF memcached stores after a value it did not receive."""
        st[2] = 0
        mm = self._mm
        cur = st[0]
        if mm[h + 38] & ITEM_CHUNKED:
            size, used = _SIZE_USED.unpack_from(mm, cur + 24)
            if size - used < 2:
                nch = self._alloc_chunk(cur, 2)
                if nch is None:
                    return False
                cur = st[0] = nch
                used = 0
            mm[cur + 48 + used : cur + 50 + used] = _CRLF
            I32.pack_into(mm, cur + 28, used + 2)
        else:
            mm[cur : cur + 2] = _CRLF
            st[0] = cur + 2
        return True

    # -- the public two-phase API -------------------------------------------------------------

    def alloc_item(
        self,
        mode: Any,
        key: bytes,
        flags: int,
        exptime: int,
        nbytes: int,
        binary: bool = False,
        unlink_on_fail: bool | None = None,
        count: bool = True,
    ) -> Any:
        """process_update_command's item_alloc. An int handle, or TOO_LARGE / NO_MEMORY
        (counted; a refused SET also unlinks the key's old item, unless `unlink_on_fail`
        says otherwise: the binary protocol decides that by its own opcode). `count=False`:
        no store_too_large / store_no_memory, as memcached's binary path counts neither."""
        ntotal = self._base_ntotal + len(key) + nbytes + (4 if flags else 0)
        off = None
        if ntotal <= self.cfg.item_size_max:
            exp = self._realtime(exptime) if exptime else 0
            off = self._alloc_header(key, flags, exp, nbytes, ntotal)
        if off is None:
            res = self._TOO_LARGE if ntotal > self.cfg.item_size_max else self._NO_MEMORY
            if count:
                self._g["store_too_large" if res is self._TOO_LARGE else "store_no_memory"] += 1
            unlink = mode is self._SET if unlink_on_fail is None else unlink_on_fail
            if unlink:
                hv = self._hash(key)
                old = self._find_live(key, hv)
                if old:
                    self._item_unlink(old, hv)
            return res
        cur = self._item_data_off(off)
        self._filling[off] = [cur, nbytes - 2 if binary else nbytes, 2 if binary else 0]
        if binary and nbytes == 2:
            self._add_crlf(off, self._filling[off])
        return off

    def held_value(self, h: int) -> bytes:
        """The bytes written so far into a held item's value (with its CRLF once complete)."""
        st = self._filling[h]
        nbytes = I32.unpack_from(self._mm, h + 32)[0]
        return bytes(self._read_data_of(h)[: nbytes - st[1] - st[2]])

    def abort_store(self, h: int) -> None:
        """Drop a held item that will not be stored (connection closed, read failed)."""
        if self._filling.pop(h, None) is not None:
            self._item_release(h)

    def complete_store(
        self, h: int, mode: Any, cas_in: int | None = None, terminator_ok: bool = True
    ) -> Any:
        """complete_nread: set_cmds for the item's class, the CRLF check (None when the
        block did not end with one: the item is dropped), then do_store_item."""
        st = self._filling.pop(h)
        if st[1]:
            self._filling[h] = st
            raise ValueError("the value is not complete")
        self._set_cmds[self._mm[h + 40] & CLSID_MASK] += 1
        if not terminator_ok:
            self._item_release(h)
            return None
        return self._do_store_item(h, mode, cas_in)

    # -- do_store_item --------------------------------------------------------------------------

    def _do_store_item(self, it: int, mode: Any, cas_in: int | None) -> Any:
        key = self._item_key(it)
        hv = self._hash(key)
        old = self._find_live(key, hv)
        SET, ADD, REPLACE = self._SET, self._ADD, self._REPLACE
        if not old:
            if mode is SET or mode is ADD:
                self._item_link(it, hv)  # the held reference becomes the link's
                return self._STORED
            self._item_release(it)
            if mode is self._CAS:
                self._g["cas_misses"] += 1
                return self._NOT_FOUND
            return self._NOT_STORED
        if mode is SET or mode is REPLACE:
            self._item_replace(old, it, hv)
            return self._STORED
        self._item_hold(old)
        linked = False
        try:
            res, linked = self._store_existing(mode, key, it, old, hv, cas_in)
        finally:
            self._item_release(old)
        if not linked:
            self._item_release(it)  # complete_nread's item_remove, after old_it's
        return res

    def _store_existing(
        self, mode: Any, key: bytes, it: int, old: int, hv: int, cas_in: int | None
    ) -> tuple[Any, bool]:
        mm = self._mm
        old_cas = self._item_cas(old)
        it_cas = cas_in if (cas_in is not None and self._use_cas) else 0
        old_cls = mm[old + 40] & CLSID_MASK
        if mode is self._ADD:
            self._item_update(old)  # add promotes the existing item
            return self._NOT_STORED, False
        if mode is self._CAS:
            if it_cas != 0 and it_cas == old_cas:
                self._sstats["cas_hits"][old_cls] += 1
                self._item_replace(old, it, hv)
                return self._STORED, True
            self._sstats["cas_badval"][old_cls] += 1
            return self._EXISTS, False
        # APPEND / PREPEND: a CAS given must match; the old flags and exptime are kept
        if it_cas != 0 and it_cas != old_cas:
            return self._EXISTS, False
        flags = self._item_flags(old)
        exptime = I32.unpack_from(mm, old + 28)[0]
        old_nb = I32.unpack_from(mm, old + 32)[0]
        add_nb = I32.unpack_from(mm, it + 32)[0]
        nbytes = add_nb + old_nb - 2
        ntotal = self._base_ntotal + len(key) + nbytes + (4 if flags else 0)
        if ntotal > self.cfg.item_size_max:
            return self._NOT_STORED, False  # do_item_alloc: no class, nothing counted
        self._locked_hv = hv  # do_store_item runs under the key's item lock
        try:
            new = self._alloc_header(key, flags, exptime, nbytes, ntotal)
            if new is None:
                return self._NOT_STORED, False
            first, second = (old, it) if mode is self._APPEND else (it, old)
            if mm[new + 38] & ITEM_CHUNKED:
                ok = self._copy_chunks(new, first, I32.unpack_from(mm, first + 32)[0] - 2)
                ok = ok and self._copy_chunks(new, second, I32.unpack_from(mm, second + 32)[0])
                if not ok:
                    self._item_release(new)
                    return self._NOT_STORED, False
            else:
                a = self._read_data_of(first)[:-2]
                b = self._read_data_of(second)
                d = self._item_data_off(new)
                mm[d : d + len(a)] = a
                mm[d + len(a) : d + len(a) + len(b)] = b
        finally:
            self._locked_hv = None
        self._item_replace(old, new, hv)
        return self._STORED, False

    def _read_data_of(self, off: int) -> bytes:
        _t, _e, nbytes, _r, fl, _c, _nk = META.unpack_from(self._mm, off + OFF_TIME)
        return self._read_data(off, fl, self._item_data_off(off), nbytes)

    def _copy_chunks(self, dst: int, src: int, length: int) -> bool:
        """_store_item_copy_chunks: fill dst's chunks from src, allocating each next chunk
        when one is full, sized for what is left of *this* source (so a source that ends a
        chunk exactly leaves a zero-size chunk behind, as memcached does)."""
        mm = self._mm
        dch = self._chunk0(dst)
        while True:
            size, used = _SIZE_USED.unpack_from(mm, dch + 24)
            nxt = Q.unpack_from(mm, dch)[0]
            if size != used or not nxt:
                break
            dch = nxt
        if mm[src + 38] & ITEM_CHUNKED:
            remain = length
            sch = self._chunk0(src)
            copied = 0
            while sch and remain:
                s_used = I32.unpack_from(mm, sch + 28)[0]
                size, used = _SIZE_USED.unpack_from(mm, dch + 24)
                todo = min(size - used, s_used - copied, remain)
                d = dch + 48 + used
                s = sch + 48 + copied
                mm[d : d + todo] = mm[s : s + todo]
                used += todo
                copied += todo
                remain -= todo
                I32.pack_into(mm, dch + 28, used)
                if size == used:
                    tch = self._alloc_chunk(dch, remain)
                    if tch is None:
                        return False
                    dch = tch
                if copied == s_used:
                    copied = 0
                    sch = Q.unpack_from(mm, sch)[0]
            return True
        src_data = self._item_data_off(src)
        done = 0
        while length > done:
            size, used = _SIZE_USED.unpack_from(mm, dch + 24)
            todo = min(size - used, length - done)
            d = dch + 48 + used
            mm[d : d + todo] = mm[src_data + done : src_data + done + todo]
            done += todo
            used += todo
            I32.pack_into(mm, dch + 28, used)
            if size == used:
                tch = self._alloc_chunk(dch, length - done)
                if tch is None:
                    return False
                dch = tch
        return True
