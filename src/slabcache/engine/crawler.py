"""LRU crawler (crawler.c + items.c crawl helpers), run in bounded slices.

Plan: a crawl puts a fake "marker" item (a slot in the arena's header page, never a slab chunk)
at the tail of every requested sub-LRU and moves it one position toward the head per unit of
work, round-robin over the active lists as memcached's crawler thread does. The item the marker
just stepped over is handed to the active module: `expired` (unlink dead items, histogram the
TTLs of the live ones for autocrawl scheduling) or `metadump` (one text line per live item).
A `hash` metadump walks the hash index one bucket per unit instead.

Nothing sleeps here. `lru_crawler_sleep` (microseconds, as in memcached) is kept as the
server's pacing knob: while it is non-zero a slice crawls at most CRAWLS_PER_SLEEP items and
`pause_us` tells the server how long to leave the crawler alone before the next slice.
Metadump output is pulled by its consumer (`MetadumpStream`), which is the back-pressure a
slow client puts on memcached's crawler thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from .items import (
    CLSID_MASK,
    ITEM_FETCHED,
    LINKS,
    META,
    NEWHDR,
    OFF_HNEXT,
    OFF_PREV,
    OFF_TIME,
    Q,
)

if TYPE_CHECKING:
    from .store import Engine

NUM_LRUS = 256
MAX_CLASSES = 64
CRAWLS_PER_SLEEP = 1000  # memcached's settings.crawls_persleep
MAX_SLEEP_US = 1_000_000
MAX_MAINTCRAWL_WAIT = 60 * 60
AUTOCRAWL_RETRY = 5
BUSY_BLOCKS_AUTOCRAWL = 60
HISTO_BUCKETS = 61


class CrawlResult(Enum):
    """What `lru_crawler crawl|metadump` answers; the protocol maps these to reply lines."""

    OK = "OK"
    BUSY = "BUSY"  # BUSY currently processing crawler request
    BADCLASS = "BADCLASS"  # BADCLASS invalid class id
    NOTSTARTED = "NOTSTARTED"  # NOTSTARTED no items to crawl
    DISABLED = "DISABLED"  # CLIENT_ERROR lru crawler disabled
    ERROR = "ERROR"  # ERROR an unknown error happened (`crawl hash`)


class CrawlKind(Enum):
    AUTOEXPIRE = 0
    EXPIRED = 1
    METADUMP = 2


# memcached's uriencode map: unreserved characters pass, everything else is %XX (upper case)
_UNRESERVED = frozenset(b"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_URI = [bytes([b]) if b in _UNRESERVED else b"%%%02X" % b for b in range(256)]


def uriencode(key: bytes) -> bytes:
    return b"".join([_URI[b] for b in key])


@dataclass
class ListStats:
    """crawlerstats_t: what one sub-LRU's last expired crawl saw."""

    histo: list[int] = field(default_factory=lambda: [0] * HISTO_BUCKETS)
    ttl_hourplus: int = 0
    noexp: int = 0
    reclaimed: int = 0
    seen: int = 0
    start_time: int = 0
    end_time: int = 0
    run_complete: bool = False


class ExpiredData:
    """crawler_expired_data: per-sub-LRU stats, reset whenever a new run starts."""

    def __init__(self) -> None:
        self.lists = [ListStats() for _ in range(NUM_LRUS)]

    def reset(self, now: int) -> None:
        self.lists = [ListStats(start_time=now) for _ in range(NUM_LRUS)]


@dataclass
class _Cursor:
    """One marker walking one sub-LRU (the per-list fields of memcached's crawler item)."""

    remaining: int  # 0: unlimited; n+1: visit n items (memcached's encoding)
    reclaimed: int = 0
    unfetched: int = 0
    checked: int = 0


class Crawler:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        cfg = engine.cfg
        self.sleep_us = cfg.lru_crawler_sleep
        self.tocrawl = cfg.lru_crawler_tocrawl
        self.running = False
        self.kind: CrawlKind | None = None
        self._cursors: dict[int, _Cursor] = {}
        self._order_cache: list[int] | None = None
        self._rr = 0  # round-robin position inside the active lists
        self._auto = ExpiredData()  # the maintainer's data: drives autocrawl scheduling
        self._manual = ExpiredData()
        self._data: ExpiredData | None = None
        self._out: deque[bytes] = deque()
        self._hash_walk: Iterator[list[int]] | None = None
        self._next_crawl: list[int | None] = [None] * NUM_LRUS  # None: due now
        self._next_wait = [0] * NUM_LRUS
        self._block_auto_until: int | None = None
        self._last_check: int | None = None
        self.run_id = 0  # tells a stale MetadumpStream from the current one
        self.pause_us = 0
        self._markers = [engine._arena.marker_offset(lru_id) for lru_id in range(NUM_LRUS)]
        for lru_id, off in enumerate(self._markers):
            # it_flags 1, nkey 0, nbytes 0, time 0: the shape of memcached's crawler item
            LINKS.pack_into(engine._mm, off, 0, 0)
            NEWHDR.pack_into(engine._mm, off + OFF_TIME, 0, 0, 0, 0, 1, lru_id, 0, 0)

    # -- settings -------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.e.cfg.lru_crawler

    def enable(self) -> bool:
        """`lru_crawler enable`: False when already on (memcached fails to start a 2nd thread)."""
        if self.enabled:
            return False
        self.e.cfg.lru_crawler = True
        return True

    def disable(self) -> bool:
        """`lru_crawler disable`: stopping memcached's crawler thread ends the crawl in
        progress, so a crawl asked for after `enable` is not refused as busy."""
        self.e.cfg.lru_crawler = False
        if self.running:
            self.abort()
        return True

    def set_sleep(self, us: int) -> bool:
        if us < 0 or us > MAX_SLEEP_US:
            return False
        self.sleep_us = us
        self.e.cfg.lru_crawler_sleep = us
        return True

    def set_tocrawl(self, n: int) -> bool:
        if n < 0:
            return False
        self.tocrawl = n
        self.e.cfg.lru_crawler_tocrawl = n
        return True

    # -- starting -------------------------------------------------------------------------

    @staticmethod
    def parse_ids(ids: str | Iterable[int]) -> set[int] | str | None:
        """Sub-LRU ids for `all` / `1,2,3` / a list of class ids; "hash"; None = BADCLASS."""
        if isinstance(ids, str):
            if ids == "all":
                return set(range(1, NUM_LRUS))
            if ids == "hash":
                return "hash"
            classes: list[int] = []
            for tok in ids.split(","):
                if not tok:
                    continue  # strtok skips empty fields: "," asks for nothing
                if not tok.isdigit():
                    return None
                classes.append(int(tok))
        else:
            classes = list(ids)
        out: set[int] = set()
        for cls in classes:
            if cls < 1 or cls >= MAX_CLASSES:
                return None
            out.update((cls, cls | 64, cls | 128, cls | 192))
        return out

    def start(self, lists: set[int] | None, remaining: int | None, kind: CrawlKind) -> int:
        """lru_crawler_start: -1 busy, -2 bad request, else the number of lists started.

        `remaining` None caps each list at its size now (metadump); 0 is unlimited.
        """
        now = self.e.clock.now
        if self.running and not (kind is CrawlKind.AUTOEXPIRE and self.kind is kind):
            self._block_auto_until = now + BUSY_BLOCKS_AUTOCRAWL
            return -1
        if kind is CrawlKind.AUTOEXPIRE and (
            self._block_auto_until is not None and self._block_auto_until > now
        ):
            return -1
        if kind is not CrawlKind.METADUMP and lists is None:
            return -2
        if not self.running:
            self.run_id += 1
            self.kind = kind
            self._out.clear()
            self._data = None
            if kind is not CrawlKind.METADUMP:
                self._data = self._auto if kind is CrawlKind.AUTOEXPIRE else self._manual
                self._data.reset(now)
        starts = 0
        if lists is None:
            self._hash_walk = self._hash_buckets()
            starts = 1
        else:
            for lru_id in sorted(lists):
                starts += self._start_list(lru_id, remaining)
        if starts:
            self.running = True
            self.e._g["lru_crawler_starts"] += 1
        return starts

    def _start_list(self, lru_id: int, remaining: int | None) -> int:
        if lru_id in self._cursors:
            return 0
        if remaining is None:
            remaining = self.e._lru_sizes[lru_id]
        self._cursors[lru_id] = _Cursor(remaining + 1 if remaining else 0)
        self._order_cache = None
        self._link_tail(lru_id)
        return 1

    def crawl(self, ids: str | Iterable[int]) -> CrawlResult:
        """`lru_crawler crawl <ids|all>` with the expired module."""
        if not self.enabled:
            return CrawlResult.DISABLED
        lists = self.parse_ids(ids)
        if lists is None:
            return CrawlResult.BADCLASS
        if isinstance(lists, str):  # only metadump may walk the hash table
            return self._result(self.start(None, self.tocrawl, CrawlKind.EXPIRED))
        return self._result(self.start(lists, self.tocrawl, CrawlKind.EXPIRED))

    def metadump(self, ids: str | Iterable[int]) -> CrawlResult | MetadumpStream:
        """`lru_crawler metadump <ids|all|hash>`: a stream of lines, or why it did not start."""
        if not self.enabled:
            return CrawlResult.DISABLED
        lists = self.parse_ids(ids)
        if lists is None:
            return CrawlResult.BADCLASS
        starts = self.start(None if isinstance(lists, str) else lists, None, CrawlKind.METADUMP)
        result = self._result(starts)
        if result is not CrawlResult.OK:
            return result
        return MetadumpStream(self)

    @staticmethod
    def _result(starts: int) -> CrawlResult:
        if starts == -1:
            return CrawlResult.BUSY
        if starts == -2:
            return CrawlResult.ERROR
        return CrawlResult.OK if starts else CrawlResult.NOTSTARTED

    # -- the marker ---------------------------------------------------------------------------

    def _link_tail(self, lru_id: int) -> None:
        """do_item_linktail_q: the marker becomes the tail (not counted in the list's size)."""
        e = self.e
        mm = e._mm
        m = e._arena.marker_offset(lru_id)
        tail = e._tails[lru_id]
        LINKS.pack_into(mm, m, 0, tail)
        if tail:
            Q.pack_into(mm, tail, m)
        else:
            e._heads[lru_id] = m
        e._tails[lru_id] = m

    def _unlink_marker(self, lru_id: int) -> None:
        e = self.e
        mm = e._mm
        m = e._arena.marker_offset(lru_id)
        nxt, prv = LINKS.unpack_from(mm, m)
        if e._heads[lru_id] == m:
            e._heads[lru_id] = nxt
        if e._tails[lru_id] == m:
            e._tails[lru_id] = prv
        if nxt:
            Q.pack_into(mm, nxt + OFF_PREV, prv)
        if prv:
            Q.pack_into(mm, prv, nxt)
        LINKS.pack_into(mm, m, 0, 0)

    # -- running ----------------------------------------------------------------------------

    def delay(self) -> float | None:
        """Seconds until `run` has work (its `lru_crawler sleep` pause); None when idle."""
        if not self.running or self.kind is CrawlKind.METADUMP:
            return None  # a metadump is driven by its reader, not by background slices
        return self.pause_us / 1e6

    def run(self, budget: int) -> int:
        """Crawl up to `budget` items (LRU crawls of the expired kind); returns work done."""
        if not self.running or self.kind is CrawlKind.METADUMP:
            return 0
        if self.sleep_us:
            budget = min(budget, CRAWLS_PER_SLEEP)
        work = self._crawl(budget)
        self.pause_us = self.sleep_us if self.running else 0
        return work

    def _crawl(self, budget: int) -> int:
        work = 0
        while work < budget and self.running:
            if self._hash_walk is not None:
                work += self._hash_step()
                continue
            ids = self._order_cache
            if ids is None:
                ids = self._order
            if self._rr >= len(ids):
                self._rr = 0
            lru_id = ids[self._rr]
            self._rr += 1
            self._visit(lru_id)
            work += 1
        return work

    @property
    def _order(self) -> list[int]:
        """Active lists in id order (memcached's for-loop over sub-LRUs), cached per change."""
        if self._order_cache is None:
            self._order_cache = sorted(self._cursors)
        return self._order_cache

    def _visit(self, lru_id: int) -> None:
        e = self.e
        cur = self._cursors[lru_id]
        # do_item_crawl_q, once per crawled item: swap the marker with the item in front of
        # it (toward the head); links as words (next at word 0, prev at word 1)
        m64 = e._m64
        m = self._markers[lru_id]
        mw = m >> 3
        it = m64[mw + 1]
        if not it:
            self._finish_list(lru_id)
            return
        nxt = m64[mw]
        if nxt:
            m64[(nxt >> 3) + 1] = it
        else:
            e._tails[lru_id] = it
        iw = it >> 3
        m64[iw] = nxt
        pprev = m64[iw + 1]
        m64[mw] = it
        m64[mw + 1] = pprev
        m64[iw + 1] = m
        if pprev:
            m64[pprev >> 3] = m
        else:
            e._heads[lru_id] = m
        if cur.remaining:
            cur.remaining -= 1
            if cur.remaining < 1:
                self._finish_list(lru_id)
                return
        t, exptime, _nb, ref, fl, _cid, _nk = META.unpack_from(e._mm, it + OFF_TIME)
        if ref != 1:  # someone holds it: memcached's refcount_incr != 2
            return
        cur.checked += 1
        if self.kind is CrawlKind.METADUMP:
            self._metadump_eval(it, t, exptime, fl)
        elif exptime == 0 and e._oldest_live is None:
            # the common item: live, no TTL (_expired_eval's count for it, in line)
            s = self._data.lists[lru_id]  # type: ignore[union-attr]
            s.seen += 1
            s.noexp += 1
        else:
            self._expired_eval(lru_id, cur, it, t, exptime, fl)

    def _finish_list(self, lru_id: int) -> None:
        e = self.e
        # the lists after this one shift down by one: keep the round-robin position
        if self._order.index(lru_id) < self._rr:
            self._rr -= 1
        cur = self._cursors.pop(lru_id)
        self._order_cache = None
        self._unlink_marker(lru_id)
        cls = lru_id & CLSID_MASK
        ist = e._istats
        ist["crawler_reclaimed"][cls] += cur.reclaimed
        ist["expired_unfetched"][cls] += cur.unfetched
        ist["crawler_items_checked"][cls] += cur.checked
        if self._data is not None:
            s = self._data.lists[lru_id]
            s.end_time = e.clock.now
            s.run_complete = True
        if not self._cursors and self._hash_walk is None:
            self._stop()

    def _stop(self) -> None:
        self.running = False
        self._rr = 0

    def abort(self) -> None:
        """Drop a crawl in progress (a metadump whose client went away)."""
        for lru_id in list(self._cursors):
            self._finish_list(lru_id)
        self._hash_walk = None
        self._out.clear()
        self._stop()

    # -- modules ------------------------------------------------------------------------------

    def _expired_eval(
        self, lru_id: int, cur: _Cursor, it: int, t: int, exptime: int, fl: int
    ) -> None:
        e = self.e
        now = e.clock.now
        flushed = e._oldest_live is not None and e._is_flushed(t, e._item_cas(it))
        assert self._data is not None
        s = self._data.lists[lru_id]
        if (exptime and exptime < now) or flushed:
            cur.reclaimed += 1
            s.reclaimed += 1
            if not fl & ITEM_FETCHED and not flushed:
                cur.unfetched += 1
            e._item_unlink(it)
            return
        s.seen += 1
        if exptime == 0:
            s.noexp += 1
        elif exptime - now > 3599:
            s.ttl_hourplus += 1
        else:
            bucket = (exptime - now) // 60
            if bucket < HISTO_BUCKETS:
                s.histo[bucket] += 1

    def _metadump_eval(self, it: int, t: int, exptime: int, fl: int) -> None:
        e = self.e
        now = e.clock.now
        cas = e._item_cas(it)
        if (exptime and exptime < now) or e._is_flushed(t, cas):
            return
        started = e.clock.process_started
        self._out.append(
            b"key=%s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\n"
            % (
                uriencode(e._item_key(it)),
                exptime + started if exptime else -1,
                t + started,
                cas,
                b"yes" if fl & ITEM_FETCHED else b"no",
                e._mm[it + 40] & CLSID_MASK,
                e._item_ntotal(it),
            )
        )

    def _hash_buckets(self) -> Iterator[list[int]]:
        """The hash table one logical bucket at a time, safe against growth in between.

        memcached holds off hash expansion for a whole hash metadump; here the walk instead
        visits buckets of the table size it started with. A logical bucket i is every
        bucket j of the current tables with j = i (mod that size): in the old table while
        its bucket has not moved yet, in the new one once it has. Expansion moves whole
        buckets between our steps, so each item is seen exactly once.
        """
        idx = self.e._index
        base = idx.old_mask + 1 if idx.expanding else idx.mask + 1
        for i in range(base):
            yield self._logical_bucket(i, base)

    def _logical_bucket(self, i: int, base: int) -> list[int]:
        e = self.e
        idx = e._index
        heads: list[int] = []
        if idx.expanding:
            assert idx.old is not None
            moved = idx.expand_bucket
            heads += [idx.old[ob] for ob in range(i, idx.old_mask + 1, base) if ob >= moved]
            heads += [
                idx.primary[pb] for pb in range(i, idx.mask + 1, base) if pb & idx.old_mask < moved
            ]
        else:
            heads += [idx.primary[pb] for pb in range(i, idx.mask + 1, base)]
        mm = e._mm
        chain: list[int] = []
        for off in heads:
            while off:
                chain.append(off)
                off = Q.unpack_from(mm, off + OFF_HNEXT)[0]
        return chain

    def _hash_step(self) -> int:
        assert self._hash_walk is not None
        chain = next(self._hash_walk, None)
        if chain is None:
            self._hash_walk = None
            if not self._cursors:
                self._stop()
            return 1
        mm = self.e._mm
        for it in chain:
            t, exptime, _nb, ref, fl, _cid, _nk = META.unpack_from(mm, it + OFF_TIME)
            if ref == 1:
                self._metadump_eval(it, t, exptime, fl)
        return 1

    def next_lines(self) -> bool:
        """Advance a metadump until it has output or ends; False once it has ended."""
        while not self._out and self.running and self.kind is CrawlKind.METADUMP:
            self._crawl(1)  # one step at a time: the dump never runs ahead of its reader
        return bool(self._out)

    # -- autocrawl (lru_maintainer_crawler_check) -------------------------------------------------

    def check(self) -> bool:
        """Once per clock second: schedule and start autocrawls. True if one started."""
        e = self.e
        if not self.enabled or not e.cfg.lru_maintainer:
            return False
        now = e.clock.now
        if self._last_check == now:
            return False
        self._last_check = now
        todo: set[int] = set()
        limit = 0
        sizes = e._lru_sizes
        for lru_id in range(1, NUM_LRUS):
            s = self._auto.lists[lru_id]
            if s.run_complete:
                self._reschedule(lru_id, s, now)
            due = self._next_crawl[lru_id]
            if due is None or now > due:
                limit = max(limit, sizes[lru_id])
                todo.add(lru_id)
                self._next_crawl[lru_id] = now + AUTOCRAWL_RETRY
        if not todo:
            return False
        if self.tocrawl and self.tocrawl < limit:
            limit = self.tocrawl
        return self.start(todo, limit, CrawlKind.AUTOEXPIRE) > 0

    def _reschedule(self, lru_id: int, s: ListStats, now: int) -> None:
        possible = s.seen - s.noexp
        low_watermark = possible // 100 + 1
        available = 0
        wait = self._next_wait[lru_id]
        for x in range(60):
            available += s.histo[x]
            if available > low_watermark:
                if wait < x * 60:
                    wait += 60
                elif wait >= 60:
                    wait -= 60
                break
        if available == 0:
            wait += 60
        wait = min(wait, MAX_MAINTCRAWL_WAIT)
        self._next_wait[lru_id] = wait
        self._next_crawl[lru_id] = now + wait + AUTOCRAWL_RETRY
        s.run_complete = False


class MetadumpStream:
    """Lines of one metadump (each ending "\\n"); the caller writes "END\\r\\n" after the last.

    Iterating drives the crawl; `close()` (or dropping the stream) ends an unfinished dump so
    the crawler is free again.
    """

    def __init__(self, crawler: Crawler) -> None:
        self._c = crawler
        self._run_id = crawler.run_id
        self._done = False

    def __iter__(self) -> MetadumpStream:
        return self

    def __next__(self) -> bytes:
        c = self._c
        if self._done or not c.next_lines():
            self._done = True
            raise StopIteration
        return c._out.popleft()

    def close(self) -> None:
        if not self._done:
            self._done = True
            c = self._c
            if c.running and c.kind is CrawlKind.METADUMP and c.run_id == self._run_id:
                c.abort()

    def __del__(self) -> None:
        self.close()


__all__ = ["CrawlKind", "CrawlResult", "Crawler", "MetadumpStream", "uriencode"]
