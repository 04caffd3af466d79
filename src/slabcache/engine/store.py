"""Engine: the public operations on memcached's memory model (do_item_get, do_store_item, ...).

Reads and writes go straight to the arena mmap; the get and store paths are written for speed
(locals, precompiled structs, inlined hash lookup and free-list pop) and say so.
"""

from __future__ import annotations

import dataclasses
import enum
from bisect import bisect_left

import mmh3

from .arena import Arena
from .clock import Clock, ManualClock
from .config import HASHPOWER_DEFAULT, REALTIME_MAXDELTA, EngineConfig
from .crawler import Crawler, CrawlResult, MetadumpStream
from .hashing import HashFn, hash_function, murmur3
from .hotpath import HotPathMixin
from .index import HashIndex
from .items import (
    CLSID_MASK,
    COLD_LRU,
    H16,
    I32,
    ITEM_ACTIVE,
    ITEM_CAS,
    ITEM_CFLAGS,
    ITEM_CHUNKED,
    ITEM_FETCHED,
    ITEM_LINKED,
    LRU_MASK,
    META,
    OFF_CAS,
    OFF_CHUNK_USED,
    OFF_FLAGS,
    OFF_TIME,
    Q,
)
from .lru import LruMixin
from .maintainer import MaintainerMixin
from .slabclass import build_classes
from .slabmove import ReassignResult, SlabMover
from .stats import StatsMixin
from .storeflow import StoreFlowMixin

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
MEMLIMIT_MIN_MB = 8
# hash expansion buckets per unit of background work: moving a bucket (~1.5 items) costs well
# under a µs, a unit of other work several; the table is split between two tables, and the
# lookups slower, for as few loop passes as that allows
EXPAND_BUCKETS_PER_UNIT = 8
_SPACE = b" \t\n\v\f\r"


class StoreMode(enum.Enum):
    SET = 1
    ADD = 2
    REPLACE = 3
    APPEND = 4
    PREPEND = 5
    CAS = 6


class StoreResult(enum.Enum):
    STORED = 1
    NOT_STORED = 2
    EXISTS = 3
    NOT_FOUND = 4
    TOO_LARGE = 5
    NO_MEMORY = 6


class DeltaResult(enum.Enum):
    OK = 1
    NOT_FOUND = 2
    NON_NUMERIC = 3
    NO_MEMORY = 4


def parse_u64(data: bytes) -> int | None:
    """memcached's safe_strtoull on a stored value (which is followed by CRLF)."""
    n = len(data)
    i = 0
    while i < n and data[i] in _SPACE:
        i += 1
    neg = False
    if i < n and data[i] in b"+-":
        neg = data[i] == 45
        i += 1
    j = i
    while j < n and 48 <= data[j] <= 57:
        j += 1
    if j == i:
        return None
    if j < n and data[j] not in _SPACE and data[j] != 0:
        return None
    v = int(data[i:j])
    if v > M64:
        return None  # ERANGE
    if neg:
        v = -v & M64  # strtoull negates; a "negative" result is refused
        if v >> 63:
            return None
    return v


class Engine(HotPathMixin, StoreFlowMixin, LruMixin, StatsMixin, MaintainerMixin):
    # the hot paths and storeflow.py compare against these without importing this module
    _SET, _ADD, _REPLACE, _APPEND, _PREPEND, _CAS = tuple(StoreMode)
    _STORED, _NOT_STORED, _EXISTS, _NOT_FOUND, _TOO_LARGE, _NO_MEMORY = tuple(StoreResult)

    def __init__(
        self,
        config: EngineConfig | None = None,
        clock: Clock | ManualClock | None = None,
        hash_fn: HashFn | None = None,
    ) -> None:
        cfg = dataclasses.replace(config) if config is not None else EngineConfig()
        self.cfg = cfg
        self.clock = clock if clock is not None else Clock()
        self._hash: HashFn = hash_fn if hash_fn is not None else hash_function(cfg.hash_algorithm)
        if self._hash is murmur3:
            self._hash = mmh3.mmh3_32_uintdigest  # the same function without a Python frame
        self._classes = build_classes(cfg)
        self._sizes = list(self._classes.sizes)
        self._power_largest = self._classes.power_largest
        self._arena = Arena(cfg, self._classes)
        self._mm = self._arena.mm
        if any(size % 8 for size in self._sizes):
            raise ValueError(
                "slab class sizes must be multiples of 8 (chunks hold 8-aligned links)"
            )
        self._m64 = self._arena.m64
        self._arena.remap_hooks.append(self._remap_words)
        self._hdr_packers: dict[int, object] = {}
        self._use_cas = cfg.use_cas
        self._key_off = 56 if cfg.use_cas else 48
        self._base_ntotal = 49 + (8 if cfg.use_cas else 0)
        self._chunk_max = cfg.slab_chunk_max
        # hot path: the largest ntotal SET without chunking, and size -> class by 8-byte step
        # (class sizes are 8-aligned; only the top class may not be, hence the clamp)
        self._fast_max = min(cfg.slab_chunk_max, cfg.item_size_max)
        pl = self._power_largest
        self._cls_of = [
            min(bisect_left(self._sizes, j << 3, 1), pl) for j in range((self._fast_max >> 3) + 2)
        ]
        hashpower = HASHPOWER_DEFAULT if cfg.hashpower_init is None else cfg.hashpower_init
        self._index = HashIndex(lambda: self._mm, self._key_off, hashpower, lambda: self._m64)
        self._segmented = cfg.lru_segmented and cfg.lru_maintainer
        self._temp_lru = cfg.temp_lru
        self._temporary_ttl = cfg.temporary_ttl
        self._evict_to_free = cfg.evict_to_free
        self._oldest_live: int | None = None
        self._oldest_cas: int | None = None
        self._next_cas = 1
        self._bytes = 0
        self._curr_items = 0
        self._lru_init()
        self._stats_init()
        self._storeflow_init()
        self._hot_locals()
        self._maintainer_init()
        self.crawler = Crawler(self)
        self.mover = SlabMover(self)
        if cfg.track_sizes:
            self.sizes_enable()

    # -- helpers -----------------------------------------------------------------------------

    def _remap_words(self) -> None:
        self._m64 = self._arena.m64
        self._hot_locals()

    def _realtime(self, exptime: int) -> int:
        """Client exptime -> relative time: <= 30 days relative, above absolute, < 0 expired."""
        if exptime == 0:
            return 0
        if exptime < 0:
            return 1
        if exptime > REALTIME_MAXDELTA:
            started = self.clock.process_started
            return 1 if exptime <= started else (exptime - started) & M32
        return (exptime + self.clock.now) & M32

    def _find_live(self, key: bytes, hv: int) -> int:
        """do_item_get without the bump: dead items found are unlinked and counted."""
        # hot path for delete/touch/incr/meta: the chain walk of `get` (header+key per entry)
        tm = self._index.fast
        if tm is None:
            table, b = self._index.bucket_of(hv)
            off = table[b]
        else:
            table, mask = tm
            off = table[hv & mask]
        if not off:
            return 0
        nk = len(key)
        if nk > 255:  # longer than any stored key (nkey is one byte)
            return 0
        up = self._get_unpackers[nk] or self._unpackers(nk)[0]
        mm = self._mm
        m64 = self._m64
        while off:
            fields = up(mm, off + 24)
            if fields[-1] == key and fields[6] == nk:
                break
            off = m64[(off >> 3) + 2]
        else:
            return 0
        t, exptime = fields[0], fields[1]
        if self._oldest_live is not None and self._is_flushed(t, self._item_cas(off)):
            self._item_unlink(off, hv)
            self._g["get_flushed"] += 1
            return 0
        if exptime and exptime <= self.clock.now:
            self._item_unlink(off, hv)
            self._g["get_expired"] += 1
            return 0
        return off

    def _bump(self, off: int, fl: int, cid: int) -> None:
        """do_item_bump: FETCHED on the 1st hit, ACTIVE on the 2nd (COLD goes async to WARM)."""
        mm = self._mm
        if self._segmented:
            if fl & ITEM_ACTIVE:
                return
            if not fl & ITEM_FETCHED:
                H16.pack_into(mm, off + OFF_FLAGS, fl | ITEM_FETCHED)
                return
            H16.pack_into(mm, off + OFF_FLAGS, fl | ITEM_ACTIVE)
            if cid & LRU_MASK != COLD_LRU:
                I32.pack_into(mm, off + OFF_TIME, self.clock.now)
            elif not self._bump_async(off):
                H16.pack_into(mm, off + OFF_FLAGS, fl)
        else:
            if not fl & ITEM_FETCHED:
                H16.pack_into(mm, off + OFF_FLAGS, fl | ITEM_FETCHED)
            self._item_update(off)

    def _read_data(self, off: int, fl: int, doff: int, nbytes: int) -> bytes:
        mm = self._mm
        if not fl & ITEM_CHUNKED:
            return mm[doff : doff + nbytes]
        parts = []
        ch = Q.unpack_from(mm, doff)[0]
        while ch:
            used = I32.unpack_from(mm, ch + OFF_CHUNK_USED)[0]
            parts.append(mm[ch + 48 : ch + 48 + used])
            ch = Q.unpack_from(mm, ch)[0]
        return b"".join(parts)

    def _value(self, off: int) -> tuple[int, bytes, int]:
        """(client flags, data with CRLF, cas) of an item."""
        mm = self._mm
        _t, _e, nbytes, _r, fl, _c, nk = META.unpack_from(mm, off + OFF_TIME)
        p = off + self._key_off + nk + 1
        if fl & ITEM_CFLAGS:
            flags = I32.unpack_from(mm, p)[0]
            p += 4
        else:
            flags = 0
        cas = Q.unpack_from(mm, off + OFF_CAS)[0] if self._use_cas else 0
        return flags, self._read_data(off, fl, p, nbytes), cas

    # -- allocation ----------------------------------------------------------------------------

    def _item_alloc(
        self, key: bytes, flags: int, exptime: int, data: bytes, ntotal: int
    ) -> int | None:
        """do_item_alloc + copy in key, flags and data (+CRLF). None when memory is refused."""
        off = self._alloc_header(key, flags, exptime, len(data) + 2, ntotal)
        if off is None:
            return None
        mm = self._mm
        p = self._item_data_off(off)
        if ntotal <= self._chunk_max:
            end = p + len(data)
            mm[p:end] = data
            mm[end : end + 2] = b"\r\n"
            return off
        st = [p, len(data) + 2, 0]
        if not (self._write_chunked(st, data) and self._write_chunked(st, b"\r\n")):
            self._item_release(off)
            return None
        return off

    def _item_link(self, off: int, hv: int) -> None:
        """do_item_link: LINKED, fresh CAS, into the hash and the LRU head, counters."""
        # hot path (two-phase stores): one header read; links and CAS written as words
        # (h_next 2, CAS 6); HashIndex.insert inlined
        mm = self._mm
        m64 = self._m64
        _t, _e, nbytes, _r, fl, lid, nk = META.unpack_from(mm, off + OFF_TIME)
        fl |= ITEM_LINKED
        H16.pack_into(mm, off + OFF_FLAGS, fl)
        o = off >> 3
        if self._use_cas:
            m64[o + 6] = self._next_cas
            self._next_cas += 1
        idx = self._index
        if idx.expanding:
            table, b = idx.bucket_of(hv)
        else:
            table, b = idx.primary, hv & idx.mask
        m64[o + 2] = table[b]
        table[b] = off
        idx.hash_items += 1
        ntotal = 49 + nk + nbytes + (4 if fl & ITEM_CFLAGS else 0) + (8 if fl & ITEM_CAS else 0)
        self._link_q(off, lid, ntotal)
        self._bytes += ntotal
        self._curr_items += 1
        self._g["total_items"] += 1
        if self._sizes_hist is not None:
            self._sizes_add(off, ntotal)

    def _item_replace(self, old: int, new: int, hv: int) -> None:
        self._item_unlink(old, hv)
        self._item_link(new, hv)

    # -- public operations -------------------------------------------------------------------

    def _touch(self, key: bytes, exptime: int) -> int:
        """do_item_touch: fetch with bump, then the new exptime."""
        hv = self._hash(key)
        off = self._find_live(key, hv)
        if off:
            mm = self._mm
            _t, _e, _nb, _r, fl, cid, _nk = META.unpack_from(mm, off + OFF_TIME)
            self._bump(off, fl, cid)
            I32.pack_into(mm, off + 28, self._realtime(exptime))
        return off

    def gat(self, key: bytes, exptime: int) -> tuple[int, bytes, int] | None:
        g = self._g
        g["cmd_touch"] += 1  # memcached counts gat as a touch only (no cmd_get)
        off = self._touch(key, exptime)
        if not off:
            g["touch_misses"] += 1
            return None
        self._sstats["touch_hits"][self._mm[off + 40] & CLSID_MASK] += 1
        return self._value(off)

    def touch(self, key: bytes, exptime: int) -> bool:
        g = self._g
        g["cmd_touch"] += 1
        off = self._touch(key, exptime)
        if not off:
            g["touch_misses"] += 1
            return False
        self._sstats["touch_hits"][self._mm[off + 40] & CLSID_MASK] += 1
        return True

    def _set_no_memory(self, key: bytes, hv: int) -> StoreResult:
        """SET refused for memory: a failed SET must not leave the old value behind."""
        self._g["store_no_memory"] += 1
        old = self._find_live(key, hv)
        if old:
            self._item_unlink(old, hv)
        return StoreResult.NO_MEMORY

    def _store_mode(
        self,
        mode: StoreMode,
        key: bytes,
        flags: int,
        exptime: int,
        value: bytes,
        cas_in: int | None = None,
    ) -> StoreResult:
        """The one-call form of alloc_item / write_value / complete_store (storeflow.py).

        A chunk that cannot be allocated while the value is written (memcached's "Out of
        memory during read") gives NO_MEMORY here, without store_no_memory and without
        touching the old item, as memcached does for that failure."""
        h = self.alloc_item(mode, key, flags, exptime, len(value) + 2)
        if type(h) is not int:
            return h  # type: ignore[return-value]
        if not (self.write_value(h, value) and self.write_value(h, b"\r\n")):
            self.abort_store(h)
            return StoreResult.NO_MEMORY
        return self.complete_store(h, mode, cas_in, True)

    def delete(self, key: bytes) -> bool:
        hv = self._hash(key)
        off = self._find_live(key, hv)
        if not off:
            self._g["delete_misses"] += 1
            return False
        self._sstats["delete_hits"][self._mm[off + 40] & CLSID_MASK] += 1
        self._item_unlink(off, hv)
        return True

    def delta(self, key: bytes, incr: bool, amount: int) -> tuple[DeltaResult, bytes | None]:
        """do_add_delta: in place (space padded) when the number is not longer, else new item."""
        hv = self._hash(key)
        off = self._find_live(key, hv)
        if not off:
            self._g["incr_misses" if incr else "decr_misses"] += 1
            return DeltaResult.NOT_FOUND, None
        mm = self._mm
        _t, _e, nbytes, _ref, fl, cid, nk = META.unpack_from(mm, off + OFF_TIME)
        if nbytes <= 2 or fl & ITEM_CHUNKED:
            return DeltaResult.NON_NUMERIC, None
        flags, data, _cas = self._value(off)
        value = parse_u64(data[:-2])
        if value is None:
            return DeltaResult.NON_NUMERIC, None
        value = (value + amount) & M64 if incr else max(value - amount, 0)
        cls = cid & CLSID_MASK
        self._sstats["incr_hits" if incr else "decr_hits"][cls] += 1
        buf = b"%d" % value
        res = len(buf)
        self._item_hold(off)
        try:
            ref = H16.unpack_from(mm, off + 36)[0]
            if res + 2 <= nbytes and ref == 2:
                ntotal = self._item_ntotal(off)
                if self._sizes_hist is not None:
                    self._sizes_remove(off, ntotal)
                if self._use_cas:
                    Q.pack_into(mm, off + OFF_CAS, self._next_cas)
                    self._next_cas += 1
                if self._sizes_hist is not None:
                    self._sizes_add(off, ntotal)
                doff = self._item_data_off(off)
                mm[doff : doff + nbytes - 2] = buf.ljust(nbytes - 2)
                self._item_update(off)
            else:
                exptime = I32.unpack_from(mm, off + 28)[0]
                ntotal = self._base_ntotal + nk + res + 2 + (4 if flags else 0)
                self._locked_hv = hv  # do_add_delta runs under the key's item lock
                try:
                    new = self._item_alloc(key, flags, exptime, buf, ntotal)
                finally:
                    self._locked_hv = None
                if new is None:
                    return DeltaResult.NO_MEMORY, None
                self._item_replace(off, new, hv)
        finally:
            self._item_release(off)
        return DeltaResult.OK, buf

    def flush_all(self, delay: int = 0) -> None:
        """Sets oldest_live (and oldest_cas); items die lazily on access, tail pull or crawl."""
        self._g["cmd_flush"] += 1
        now = self.clock.now
        new_oldest = self._realtime(delay) if delay > 0 else now
        if self._use_cas:
            self._oldest_live = new_oldest - 1
            if self._oldest_live <= now:
                self._oldest_cas = self._next_cas
                self._next_cas += 1
        else:
            self._oldest_live = new_oldest

    # -- background ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Once per clock second: hash growth check, then the extensions' schedules."""
        idx = self._index
        if self.cfg.hash_expand and not idx.expanding and idx.hash_items > (idx.mask + 1) * 3 // 2:
            idx.start_expand()
        self._tick_extensions()

    def _tick_extensions(self) -> None:
        """Extension point: crawler scheduling and automove decisions hook in here."""
        self.crawler.check()
        self.mover.tick()

    def run_background(self, budget: int = 1000, elapsed_us: int | None = None) -> int:
        """Bounded background work: hash expansion, LRU maintainer, then extensions.

        `elapsed_us`: real time since the previous call, for the maintainer's per-class
        back-off; None (stepping the engine) counts each call as the sleep it asked for.
        """
        moved = self._index.expand_step(self._hash, budget * EXPAND_BUCKETS_PER_UNIT)
        work = -(-moved // EXPAND_BUCKETS_PER_UNIT)
        if work < budget:
            work += self._run_maintainer(budget - work, elapsed_us)
        if work < budget:
            work += self._background_extensions(budget - work)
        return work

    def background_delay(self) -> float:
        """Seconds until run_background has work again (0: now). tick() may bring it forward."""
        if self._index.expanding or self.mover.running:
            return 0.0
        delay = self.maintainer_delay()
        crawl = self.crawler.delay()
        return delay if crawl is None else min(delay, crawl)

    def _background_extensions(self, budget: int) -> int:
        """Extension point: the LRU crawler and the slab page mover add their slices here."""
        work = self.mover.run(budget)
        if work < budget:
            work += self.crawler.run(budget - work)
        return work

    # -- page mover and LRU crawler (slabmove.py, crawler.py) --------------------------------

    def _on_evict(self, cls: int) -> None:
        if self.cfg.slab_automove == 2:  # the only mode that acts per eviction
            self.mover.on_evict(cls)

    def _slab_reassign_running(self) -> bool:
        return self.mover.running

    def _lru_crawler_running(self) -> bool:
        return self.crawler.running

    def slabs_reassign(self, src: int, dst: int) -> ReassignResult:
        return self.mover.reassign(src, dst)

    def slabs_automove(self, mode: int) -> bool:
        return self.mover.set_automove(mode)

    def set_automove_ratio(self, ratio: float) -> bool:
        return self.mover.set_ratio(ratio)

    def lru_crawler_crawl(self, ids: str | list[int]) -> CrawlResult:
        return self.crawler.crawl(ids)

    def lru_crawler_metadump(self, ids: str | list[int]) -> CrawlResult | MetadumpStream:
        return self.crawler.metadump(ids)

    def lru_crawler_enable(self) -> bool:
        return self.crawler.enable()

    def lru_crawler_disable(self) -> bool:
        return self.crawler.disable()

    def lru_crawler_sleep(self, us: int) -> bool:
        return self.crawler.set_sleep(us)

    def lru_crawler_tocrawl(self, n: int) -> bool:
        return self.crawler.set_tocrawl(n)

    # -- admin -------------------------------------------------------------------------------

    def lru_tune(self, hot_pct: int, warm_pct: int, hot_factor: float, warm_factor: float) -> str:
        if hot_pct + warm_pct > 80:
            return "ERROR hot and warm pcts must not exceed 80"
        if hot_factor <= 0 or warm_factor <= 0:
            return "ERROR hot/warm age factors must be greater than 0"
        c = self.cfg
        c.hot_lru_pct, c.warm_lru_pct = hot_pct, warm_pct
        c.hot_max_factor, c.warm_max_factor = hot_factor, warm_factor
        return "OK"

    def lru_mode(self, mode: str) -> str:
        if not self.cfg.lru_maintainer or mode not in ("flat", "segmented"):
            return "ERROR"
        self._segmented = mode == "segmented"
        self._hot_locals()  # get's no-bump fast path is for segmented mode only
        return "OK"

    def lru_temp_ttl(self, ttl: int) -> str:
        if not self.cfg.lru_maintainer:
            return "ERROR"
        if ttl < 0:
            self._temp_lru = False
        else:
            self._temp_lru = True
            self._temporary_ttl = ttl
        return "OK"

    def cache_memlimit(self, mb: int) -> str:
        if mb < MEMLIMIT_MIN_MB:
            return "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"
        if mb > 1_000_000_000:
            return "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"
        if self._arena.prealloc:
            return "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust"
        self._arena.mem_limit = mb * 1024 * 1024
        self.cfg.maxbytes = self._arena.mem_limit
        self._arena.release_pool_pages()
        return "OK"

    # -- introspection for tests and the other background modules ----------------------------

    @property
    def curr_items(self) -> int:
        return self._curr_items

    def item_lru(self, key: bytes) -> int | None:
        """The sub-LRU (HOT 0, WARM 64, COLD 128, TEMP 192) an item is in, without touching it."""
        off = self._index.find(key, self._hash(key))
        return self._mm[off + 40] & LRU_MASK if off else None

    def item_cas(self, key: bytes) -> int | None:
        """A live item's CAS without counting or bumping (binary protocol: CAS in replies,
        delete/incr CAS checks); None when missing, expired or flushed."""
        off = self._find_live(key, self._hash(key))
        return self._item_cas(off) if off else None

    def item_flags_cas(self, key: bytes) -> tuple[int, int] | None:
        """(client flags, CAS) of a live item without counting or bumping (binary TOUCH,
        which answers with the flags but is not a get)."""
        off = self._find_live(key, self._hash(key))
        if not off:
            return None
        flags, _data, cas = self._value(off)
        return flags, cas
