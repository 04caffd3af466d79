"""Engine operations the meta protocol needs beyond the text commands (additive).

The meta commands read and change item state the text protocol never sees: the stale and
token-sent bits, the fetched bit and last-access time, remaining TTL, explicit CAS values,
invalidation and vivify-on-miss. All of it lives in the item header (`it_flags`, `time`,
`exptime`, CAS), exactly where memcached keeps it, so it survives LRU moves and page
rescues like any other header field.

`MetaOps(engine)` works on item handles (arena offsets). A handle is valid until the next
engine call that can free memory; callers use it within one command, as memcached holds
an item reference for the duration of one command.
"""

from __future__ import annotations

from .items import (
    CLSID_MASK,
    H16,
    I32,
    ITEM_ACTIVE,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    META,
    OFF_CAS,
    OFF_EXPTIME,
    OFF_FLAGS,
    OFF_TIME,
    Q,
)
from .store import M64, DeltaResult, Engine, StoreMode, StoreResult, parse_u64

# memcached's it_flags bits beyond those items.py names (memcached.h, 1.6.18)
ITEM_TOKEN_SENT = 512
ITEM_STALE = 1024
ITEM_KEY_BINARY = 2048
M32 = 0xFFFFFFFF


class MetaOps:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        engine._g.setdefault("cmd_meta", 0)

    # -- lookups -------------------------------------------------------------------------

    def find(self, key: bytes, bump: bool) -> int:
        """do_item_get: a live item's handle or 0; `bump` marks the fetch (do_item_bump)."""
        e = self.e
        off = e._find_live(key, e._hash(key))
        if off and bump:
            self.bump(off)
        return off

    def bump(self, off: int) -> None:
        e = self.e
        mm = e._mm
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        if not fl & ITEM_ACTIVE or not e._segmented:
            e._bump(off, fl, mm[off + 40])

    def count_get(self, off: int, touched: bool) -> None:
        """mg's counters (1.6.18): a touch-hit counts as a touch only, misses as get misses."""
        e = self.e
        g = e._g
        if not off:
            g["get_misses"] += 1  # cmd_get is hits + misses (stats_general)
        elif touched:
            g["cmd_touch"] += 1
            e._sstats["touch_hits"][e._mm[off + 40] & CLSID_MASK] += 1
        else:
            e._lru_hits[e._mm[off + 40]] += 1

    def count_meta(self) -> None:
        self.e._g["cmd_meta"] += 1

    def meta_cmds(self) -> int:
        return self.e._g.get("cmd_meta", 0)

    # -- item readers --------------------------------------------------------------------

    def it_flags(self, off: int) -> int:
        return H16.unpack_from(self.e._mm, off + OFF_FLAGS)[0]

    def set_it_flags(self, off: int, fl: int) -> None:
        if fl & (ITEM_TOKEN_SENT | ITEM_STALE):
            self.e._meta_marked = True
        H16.pack_into(self.e._mm, off + OFF_FLAGS, fl)

    @property
    def marked(self) -> bool:
        """Whether any item ever got a stale or token-sent bit (plain gets are exact until)."""
        return getattr(self.e, "_meta_marked", False)

    def value(self, off: int) -> tuple[int, bytes, int]:
        """(client flags, data with CRLF, cas)."""
        return self.e._value(off)

    def nbytes(self, off: int) -> int:
        return META.unpack_from(self.e._mm, off + OFF_TIME)[2]

    def client_flags(self, off: int) -> int:
        return self.e._item_flags(off)

    def cas(self, off: int) -> int:
        return self.e._item_cas(off)

    def set_cas(self, off: int, cas: int | None) -> None:
        """A new CAS: the explicit one (E) or the next id."""
        e = self.e
        if not e._use_cas:
            return
        if cas is None:
            cas = e._next_cas
            e._next_cas += 1
        Q.pack_into(e._mm, off + OFF_CAS, cas & M64)

    def ttl(self, off: int) -> int:
        """Remaining TTL as memcached prints it: -1 never expires."""
        exp = I32.unpack_from(self.e._mm, off + OFF_EXPTIME)[0]
        return -1 if exp == 0 else (exp - self.e.clock.now) & M32

    def exp_inverted(self, off: int) -> int:
        """`me`'s exp field in 1.6.18: current_time - exptime as a signed int."""
        exp = I32.unpack_from(self.e._mm, off + OFF_EXPTIME)[0]
        if exp == 0:
            return -1
        v = (self.e.clock.now - exp) & M32
        return v - (1 << 32) if v >> 31 else v

    def recache_due(self, off: int, recache: int) -> bool:
        """mg R: the item has a TTL and it ends before the recache threshold."""
        exp = I32.unpack_from(self.e._mm, off + OFF_EXPTIME)[0]
        return exp != 0 and exp < self.e._realtime(recache)

    def set_exptime(self, off: int, exptime: int) -> None:
        """Client exptime (meta negative = already expired), converted like realtime()."""
        I32.pack_into(self.e._mm, off + OFF_EXPTIME, self.e._realtime(exptime))

    def last_access(self, off: int) -> int:
        return (self.e.clock.now - I32.unpack_from(self.e._mm, off + OFF_TIME)[0]) & M32

    def key(self, off: int) -> bytes:
        return bytes(self.e._item_key(off))

    def clsid(self, off: int) -> int:
        return self.e._mm[off + 40] & CLSID_MASK

    def ntotal(self, off: int) -> int:
        return self.e._item_ntotal(off)

    # -- item writers --------------------------------------------------------------------

    def _link_new(self, key: bytes, flags: int, data: bytes) -> int:
        """Allocate and link a fresh item without counting a set (vivify paths)."""
        e = self.e
        ntotal = e._base_ntotal + len(key) + len(data) + 2 + (4 if flags else 0)
        if ntotal > e.cfg.item_size_max:
            return 0
        off = e._item_alloc(key, flags, 0, data, ntotal)
        if off is None:
            return 0
        e._item_link(off, e._hash(key))
        return off

    def vivify(self, key: bytes, data: bytes = b"") -> int:
        """mg N / ma N on a miss: an item with no TTL yet (the N flag sets it in order)."""
        return self._link_new(key, 0, data)

    def store(
        self,
        mode: StoreMode,
        key: bytes,
        flags: int,
        exptime: int,
        value: bytes,
        cas_in: int | None,
        stale: bool = False,
        new_cas: int | None = None,
        binary_key: bool = False,
    ) -> tuple[StoreResult, int]:
        """ms: engine.store plus invalidation (I), explicit CAS (E) and the binary-key bit.

        Returns (result, handle of the stored item or 0).
        """
        e = self.e
        if stale and mode is StoreMode.CAS and cas_in:
            res = self._store_stale(key, flags, exptime, value, cas_in)
        else:
            res = e.store(mode, key, flags, exptime, value, cas_in)
        if res is not StoreResult.STORED:
            return res, 0
        off = e._index.find(key, e._hash(key))
        if off:
            if new_cas is not None:
                self.set_cas(off, new_cas)
            if binary_key:
                self.set_it_flags(off, self.it_flags(off) | ITEM_KEY_BINARY)
        return res, off

    def _store_stale(
        self, key: bytes, flags: int, exptime: int, value: bytes, cas_in: int
    ) -> StoreResult:
        """do_store_item's CAS_STALE branch: a lower CAS replaces the value, marked stale."""
        e = self.e
        hv = e._hash(key)
        old = e._find_live(key, hv)
        if not old or cas_in >= e._item_cas(old):
            return e.store(StoreMode.CAS, key, flags, exptime, value, cas_in)
        ntotal = e._base_ntotal + len(key) + len(value) + 2 + (4 if flags else 0)
        if ntotal > e.cfg.item_size_max:
            return e.store(StoreMode.CAS, key, flags, exptime, value, cas_in)
        mm = e._mm
        old_exp = I32.unpack_from(mm, old + OFF_EXPTIME)[0]
        old_fl = H16.unpack_from(mm, old + OFF_FLAGS)[0]
        off = e._item_alloc(key, flags, old_exp, value, ntotal)
        if off is None:
            return e.store(StoreMode.CAS, key, flags, exptime, value, cas_in)
        e._set_cmds[mm[off + 40] & CLSID_MASK] += 1
        self.set_it_flags(off, self.it_flags(off) | ITEM_STALE | (old_fl & ITEM_TOKEN_SENT))
        e._sstats["cas_hits"][mm[old + 40] & CLSID_MASK] += 1
        e._item_replace(old, off, hv)
        return StoreResult.STORED

    def delete(
        self,
        key: bytes,
        cas_in: int | None,
        stale: bool,
        exptime: int | None,
        new_cas: int | None = None,
        empty: bool = False,
        flags: int = 0,
    ) -> tuple[str, int]:
        """md: ("HD"|"NF"|"EX"|"NS"|"OOM", handle). I marks stale with a new CAS; x empties."""
        e = self.e
        hv = e._hash(key)
        off = e._find_live(key, hv)
        if not off:
            e._g["delete_misses"] += 1
            return "NF", 0
        if cas_in is not None and e._item_cas(off) != cas_in:
            e._g["delete_misses"] += 1
            return "EX", off
        if empty:
            ntotal = e._base_ntotal + len(key) + 2 + (4 if flags else 0)
            new = e._item_alloc(key, flags, e._realtime(exptime or 0), b"", ntotal)
            if new is None:
                return "OOM", 0
            e._item_replace(off, new, hv)
            off = new
            if not stale and new_cas is not None:
                self.set_cas(off, new_cas)
        if stale:
            if exptime is not None:
                self.set_exptime(off, exptime)
            fl = (self.it_flags(off) | ITEM_STALE) & ~ITEM_TOKEN_SENT
            self.set_it_flags(off, fl)
            self.set_cas(off, new_cas)
        elif not empty:
            e._sstats["delete_hits"][e._mm[off + 40] & CLSID_MASK] += 1
            e._item_unlink(off, hv)
            return "HD", 0
        return "HD", off

    def delta(
        self, key: bytes, incr: bool, amount: int, cas_in: int
    ) -> tuple[DeltaResult | str, int, bytes, bool]:
        """do_add_delta with a CAS check: (result|"EX", handle, number, ttl_settable).

        When the number outgrows the item, memcached replaces it and keeps working on the old
        (now unlinked) one, so a later T flag has no effect: ttl_settable is False then.
        """
        e = self.e
        hv = e._hash(key)
        off = e._find_live(key, hv)
        if not off:
            e._g["incr_misses" if incr else "decr_misses"] += 1
            return DeltaResult.NOT_FOUND, 0, b"", False
        mm = e._mm
        _t, _e, nbytes, _ref, fl, cid, nk = META.unpack_from(mm, off + OFF_TIME)
        if nbytes <= 2 or fl & ITEM_CHUNKED:
            return DeltaResult.NON_NUMERIC, 0, b"", False
        if cas_in and e._item_cas(off) != cas_in:
            return "EX", 0, b"", False
        flags, data, _cas = e._value(off)
        value = parse_u64(data[:-2])
        if value is None:
            return DeltaResult.NON_NUMERIC, 0, b"", False
        value = (value + amount) & M64 if incr else max(value - amount, 0)
        e._sstats["incr_hits" if incr else "decr_hits"][cid & CLSID_MASK] += 1
        buf = b"%d" % value
        res = len(buf)
        if res + 2 <= nbytes and H16.unpack_from(mm, off + 36)[0] == 1:
            ntotal = e._item_ntotal(off)
            if e._sizes_hist is not None:
                e._sizes_remove(off, ntotal)
            self.set_cas(off, None)
            if e._sizes_hist is not None:
                e._sizes_add(off, ntotal)
            doff = e._item_data_off(off)
            mm[doff : doff + nbytes - 2] = buf.ljust(nbytes - 2)
            e._item_update(off)
            return DeltaResult.OK, off, buf, True
        exptime = I32.unpack_from(mm, off + OFF_EXPTIME)[0]
        ntotal = e._base_ntotal + nk + res + 2 + (4 if flags else 0)
        new = e._item_alloc(key, flags, exptime, buf, ntotal)
        if new is None:
            return DeltaResult.NO_MEMORY, 0, b"", False
        e._item_replace(off, new, hv)
        return DeltaResult.OK, new, buf, False


__all__ = ["ITEM_FETCHED", "ITEM_KEY_BINARY", "ITEM_STALE", "ITEM_TOKEN_SENT", "MetaOps"]
