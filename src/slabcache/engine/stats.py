"""Counters and the stats families the engine owns (1.6.18 field names, order and meaning).

The protocol layer formats; these methods return ordered lists / dicts of values.
"""

from __future__ import annotations

from .items import (
    COLD_LRU,
    HOT_LRU,
    I32,
    ITEM_CAS,
    OFF_CAS,
    OFF_EXPTIME,
    OFF_NBYTES,
    OFF_PREV,
    OFF_TIME,
    TEMP_LRU,
    WARM_LRU,
    Q,
)

ITEM_COUNTERS = (
    "evicted",
    "evicted_nonzero",
    "evicted_time",
    "outofmemory",
    "tailrepairs",
    "reclaimed",
    "expired_unfetched",
    "evicted_unfetched",
    "evicted_active",
    "crawler_reclaimed",
    "crawler_items_checked",
    "lrutail_reflocked",
    "moves_to_cold",
    "moves_to_warm",
    "moves_within_lru",
    "direct_reclaims",
)
SLAB_COUNTERS = (
    "delete_hits",
    "incr_hits",
    "decr_hits",
    "cas_hits",
    "cas_badval",
    "touch_hits",
)
GLOBAL_COUNTERS = (
    "cmd_get",
    "cmd_flush",
    "cmd_touch",
    "get_misses",
    "get_expired",
    "get_flushed",
    "delete_misses",
    "incr_misses",
    "decr_misses",
    "cas_misses",
    "touch_misses",
    "store_too_large",
    "store_no_memory",
    "total_items",
    "lru_maintainer_juggles",
    "lru_bumps_dropped",
    "lru_crawler_starts",
    "slab_reassign_rescues",
    "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem",
    "slab_reassign_inline_reclaim",
    "slab_reassign_busy_items",
    "slab_reassign_busy_deletes",
    "slabs_moved",
)
CACHEDUMP_CAP = 2 * 1024 * 1024
SIZES_BUCKET = 32


class StatsMixin:
    def _stats_init(self) -> None:
        n = 64
        self._istats: dict[str, list[int]] = {name: [0] * n for name in ITEM_COUNTERS}
        self._sstats: dict[str, list[int]] = {name: [0] * n for name in SLAB_COUNTERS}
        self._set_cmds = [0] * n
        self._lru_hits = [0] * 256
        self._g: dict[str, int] = dict.fromkeys(GLOBAL_COUNTERS, 0)
        self._sizes_hist: dict[int, int] | None = None
        self._sizes_cas_min = 0

    def stats_reset(self) -> None:
        """`stats reset`: clears counters, not state (curr_items, bytes, pages stay)."""
        for arr in (*self._istats.values(), *self._sstats.values()):
            arr[:] = [0] * len(arr)
        self._set_cmds[:] = [0] * len(self._set_cmds)
        self._lru_hits[:] = [0] * len(self._lru_hits)
        for k in self._g:
            self._g[k] = 0

    # -- counts without an item operation ------------------------------------------------------

    def count_flush(self) -> None:
        """A refused or malformed flush_all still counts: memcached counts before checking."""
        self._g["cmd_flush"] += 1

    def count_set(self, nkey: int, flags: int, nbytes: int) -> None:
        """A storage command whose data block ended badly still counts a set.

        memcached counts set_cmds for the item's class in complete_nread, before it checks
        the block's CRLF; `nbytes` includes the CRLF. A chunked item's class is the largest
        (slabs_clsid(ntotal)), not its header's. Sizes over the item limit never got an item.
        """
        cls = self.item_clsid(nkey, flags, nbytes)
        if cls:
            self._set_cmds[cls] += 1

    def item_clsid(self, nkey: int, flags: int, nbytes: int) -> int:
        """The class an item of this size gets (0: too large), for counters and log lines."""
        ntotal = self._base_ntotal + nkey + nbytes + (4 if flags else 0)
        return self._classes.clsid(ntotal) or 0

    # -- stats ------------------------------------------------------------------------------

    def _get_hits(self) -> int:
        return sum(self._lru_hits)

    def stats_general(self) -> dict[str, int | str]:
        g = self._g
        ist = self._istats
        tot = {k: sum(v) for k, v in ist.items()}
        sst = {k: sum(v) for k, v in self._sstats.items()}
        out: dict[str, int | str] = {
            # the get paths count hits and misses only: cmd_get is their sum (plus any get
            # counted as neither, in g)
            "cmd_get": g["cmd_get"] + g["get_misses"] + self._get_hits(),
            "cmd_set": sum(self._set_cmds),
            "cmd_flush": g["cmd_flush"],
            "cmd_touch": g["cmd_touch"],
            "get_hits": self._get_hits(),
            "get_misses": g["get_misses"],
            "get_expired": g["get_expired"],
            "get_flushed": g["get_flushed"],
            "delete_misses": g["delete_misses"],
            "delete_hits": sst["delete_hits"],
            "incr_misses": g["incr_misses"],
            "incr_hits": sst["incr_hits"],
            "decr_misses": g["decr_misses"],
            "decr_hits": sst["decr_hits"],
            "cas_misses": g["cas_misses"],
            "cas_hits": sst["cas_hits"],
            "cas_badval": sst["cas_badval"],
            "touch_hits": sst["touch_hits"],
            "touch_misses": g["touch_misses"],
            "store_too_large": g["store_too_large"],
            "store_no_memory": g["store_no_memory"],
            "limit_maxbytes": self.cfg.maxbytes,
            "hash_power_level": self._index.hashpower,
            "hash_bytes": self._index.hash_bytes,
            "hash_is_expanding": int(self._index.expanding),
        }
        if self.cfg.slab_reassign:
            for k in (
                "slab_reassign_rescues",
                "slab_reassign_chunk_rescues",
                "slab_reassign_evictions_nomem",
                "slab_reassign_inline_reclaim",
                "slab_reassign_busy_items",
                "slab_reassign_busy_deletes",
            ):
                out[k] = g[k]
            out["slab_reassign_running"] = int(self._slab_reassign_running())
            out["slabs_moved"] = g["slabs_moved"]
        if self.cfg.lru_crawler:
            out["lru_crawler_running"] = int(self._lru_crawler_running())
            out["lru_crawler_starts"] = g["lru_crawler_starts"]
        if self.cfg.lru_maintainer:
            out["lru_maintainer_juggles"] = g["lru_maintainer_juggles"]
        out.update(
            bytes=self._bytes,
            curr_items=self._curr_items,
            total_items=g["total_items"],
            slab_global_page_pool=len(self._arena.pool),
            expired_unfetched=tot["expired_unfetched"],
            evicted_unfetched=tot["evicted_unfetched"],
        )
        if self.cfg.lru_maintainer:
            out["evicted_active"] = tot["evicted_active"]
        out.update(
            evictions=tot["evicted"],
            reclaimed=tot["reclaimed"],
            crawler_reclaimed=tot["crawler_reclaimed"],
            crawler_items_checked=tot["crawler_items_checked"],
            lrutail_reflocked=tot["lrutail_reflocked"],
        )
        if self.cfg.lru_maintainer:
            out.update(
                moves_to_cold=tot["moves_to_cold"],
                moves_to_warm=tot["moves_to_warm"],
                moves_within_lru=tot["moves_within_lru"],
                direct_reclaims=tot["direct_reclaims"],
                lru_bumps_dropped=g["lru_bumps_dropped"],
            )
        return out

    def _slab_reassign_running(self) -> bool:
        """Extension point for the page mover."""
        return False

    def _lru_crawler_running(self) -> bool:
        """Extension point for the LRU crawler."""
        return False

    def stats_settings(self) -> dict[str, int | str]:
        c = self.cfg
        yn = {True: "yes", False: "no"}
        return {
            "maxbytes": c.maxbytes,
            "oldest": self._oldest_live if self._oldest_live is not None else 0,
            "evictions": "on" if self._evict_to_free else "off",
            "growth_factor": f"{c.factor:.2f}",
            "chunk_size": c.chunk_size,
            "cas_enabled": yn[c.use_cas],
            "item_size_max": c.item_size_max,
            "hashpower_init": c.hashpower_init or 0,  # memcached prints 0 when unset
            "slab_reassign": yn[c.slab_reassign],
            "slab_automove": c.slab_automove,
            "slab_automove_ratio": f"{c.slab_automove_ratio:.2f}",
            "slab_automove_window": c.slab_automove_window,
            "slab_chunk_max": c.slab_chunk_max,
            "lru_crawler": yn[c.lru_crawler],
            "lru_crawler_sleep": c.lru_crawler_sleep,
            "lru_crawler_tocrawl": c.lru_crawler_tocrawl,
            "tail_repair_time": c.tail_repair_time,
            "hash_algorithm": c.hash_algorithm,
            "lru_maintainer_thread": yn[c.lru_maintainer],
            "lru_segmented": yn[self._segmented],
            "hot_lru_pct": c.hot_lru_pct,
            "warm_lru_pct": c.warm_lru_pct,
            "hot_max_factor": f"{c.hot_max_factor:.2f}",
            "warm_max_factor": f"{c.warm_max_factor:.2f}",
            "temp_lru": yn[self._temp_lru],
            "temporary_ttl": self._temporary_ttl,
            "track_sizes": yn[self._sizes_hist is not None],
            "memory_file": c.memory_file if c.memory_file is not None else "(null)",
        }

    def _tail_age(self, lru_id: int, now: int) -> int:
        tail = self._tails[lru_id]
        if not tail:
            return 0
        return now - I32.unpack_from(self._mm, tail + OFF_TIME)[0]

    def stats_items(self) -> list[tuple[str, int]]:
        """`stats items`: one block per class with items; segmented or flat field list."""
        out: list[tuple[str, int]] = []
        now = self.clock.now
        ist = self._istats
        sizes = self._lru_sizes
        modern = self.cfg.lru_maintainer
        for cls in range(1, self._classes.power_largest + 1):
            ids = (cls | HOT_LRU, cls | WARM_LRU, cls | COLD_LRU, cls | TEMP_LRU)
            number = sum(sizes[i] for i in ids)
            if number == 0:
                continue
            p = f"items:{cls}:"
            rows: list[tuple[str, int]] = [("number", number)]
            if modern:
                rows += [
                    ("number_hot", sizes[ids[0]]),
                    ("number_warm", sizes[ids[1]]),
                    ("number_cold", sizes[ids[2]]),
                ]
                if self._temp_lru:
                    rows.append(("number_temp", sizes[ids[3]]))
                rows += [
                    ("age_hot", self._tail_age(ids[0], now)),
                    ("age_warm", self._tail_age(ids[1], now)),
                ]
            rows.append(("age", self._tail_age(ids[2], now)))
            rows.append(("mem_requested", sum(self._lru_bytes[i] for i in ids)))
            names = (
                (*ITEM_COUNTERS[:11], "lrutail_reflocked")
                if modern
                else (
                    "evicted",
                    "evicted_nonzero",
                    "evicted_time",
                    "outofmemory",
                    "tailrepairs",
                    "reclaimed",
                    "expired_unfetched",
                    "evicted_unfetched",
                    "crawler_reclaimed",
                    "crawler_items_checked",
                    "lrutail_reflocked",
                )
            )
            rows += [(n, ist[n][cls]) for n in names]
            if modern:
                rows += [(n, ist[n][cls]) for n in ITEM_COUNTERS[12:]]
                rows += [
                    ("hits_to_hot", self._lru_hits[ids[0]]),
                    ("hits_to_warm", self._lru_hits[ids[1]]),
                    ("hits_to_cold", self._lru_hits[ids[2]]),
                    ("hits_to_temp", self._lru_hits[ids[3]]),
                ]
            out += [(p + n, v) for n, v in rows]
        return out

    def stats_slabs(self) -> list[tuple[str, int]]:
        """`stats slabs`: per class with pages, then active_slabs and total_malloced."""
        out: list[tuple[str, int]] = []
        arena = self._arena
        classes = self._classes
        active = 0
        for cls in range(1, classes.power_largest + 1):
            npages = len(arena.pages[cls])
            if npages == 0:
                continue
            active += 1
            total = npages * classes.perslab[cls]
            free = arena.sl_curr[cls]
            hits = sum(self._lru_hits[cls | lru] for lru in (0, 64, 128, 192))
            p = f"{cls}:"
            out += [
                (p + "chunk_size", classes.sizes[cls]),
                (p + "chunks_per_page", classes.perslab[cls]),
                (p + "total_pages", npages),
                (p + "total_chunks", total),
                (p + "used_chunks", total - free),
                (p + "free_chunks", free),
                (p + "free_chunks_end", 0),
                (p + "get_hits", hits),
                (p + "cmd_set", self._set_cmds[cls]),
            ]
            out += [(p + n, self._sstats[n][cls]) for n in SLAB_COUNTERS]
        out += [("active_slabs", active), ("total_malloced", arena.mem_malloced)]
        return out

    # -- stats sizes ---------------------------------------------------------------------------

    def sizes_enable(self) -> tuple[str, str | None]:
        """Returns (sizes_status, sizes_error or None), as memcached prints them."""
        if not self._use_cas:
            return ("error", "cas_support_disabled")
        if self._sizes_hist is None:
            self._sizes_hist = {}
            # only items linked from now on count: they get a CAS >= this one
            self._sizes_cas_min = self._next_cas
        return ("enabled", None)

    def sizes_disable(self) -> tuple[str, str | None]:
        if not self._use_cas:
            return ("error", "cas_support_disabled")
        self._sizes_hist = None
        return ("disabled", None)

    def _sizes_bucket(self, ntotal: int) -> int:
        return -(-ntotal // SIZES_BUCKET) * SIZES_BUCKET

    def _sizes_add(self, off: int, ntotal: int) -> None:
        if self._item_cas(off) >= self._sizes_cas_min:
            b = self._sizes_bucket(ntotal)
            self._sizes_hist[b] = self._sizes_hist.get(b, 0) + 1  # type: ignore[index]

    def _sizes_remove(self, off: int, ntotal: int) -> None:
        hist = self._sizes_hist
        if hist is not None and self._item_cas(off) >= self._sizes_cas_min:
            b = self._sizes_bucket(ntotal)
            if hist.get(b):
                hist[b] -= 1

    def stats_sizes(self) -> list[tuple[str, int | str]]:
        hist = self._sizes_hist
        if hist is None:
            return [("sizes_status", "disabled")]
        return [(str(b), n) for b, n in sorted(hist.items()) if n]

    # -- cachedump -----------------------------------------------------------------------------

    def cachedump(self, cls: int, limit: int) -> list[bytes]:
        """`stats cachedump`: COLD list only, `ITEM <key> [<V> b; <abs exp|0> s]` lines.

        Lines carry no CRLF."""
        if cls < 1 or cls > self._classes.power_largest:
            return []
        mm = self._mm
        lines: list[bytes] = []
        size = 0
        off = self._heads[cls | COLD_LRU]
        started = self.clock.process_started
        while off and (limit == 0 or len(lines) < limit):
            if not self._arena.is_marker(off):
                exptime = I32.unpack_from(mm, off + OFF_EXPTIME)[0]
                nbytes = I32.unpack_from(mm, off + OFF_NBYTES)[0]
                line = b"ITEM %s [%d b; %d s]" % (
                    self._item_key(off),
                    nbytes - 2,
                    exptime + started if exptime else 0,
                )
                size += len(line) + 2
                if size + 5 > CACHEDUMP_CAP:
                    break
                lines.append(line)
            off = Q.unpack_from(mm, off)[0]
        return lines


__all__ = ["ITEM_CAS", "OFF_CAS", "OFF_PREV", "StatsMixin"]
