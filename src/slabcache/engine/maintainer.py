"""LRU maintainer (items.c lru_maintainer_thread) run in bounded slices by run_background.

Each pass drains the COLD->WARM bump queue, then juggles every class that holds items:
TEMP reclaims, then up to 500 rounds of HOT pull / WARM pull / non-evicting COLD pull, with
ages derived from the COLD tail age. The maintainer never evicts. memcached sleeps up to 1 s
when a pass finds nothing to do; here an idle pass defers the next one to the next clock second.
"""

from __future__ import annotations

from .items import (
    COLD_LRU,
    H16,
    HOT_LRU,
    I32,
    ITEM_ACTIVE,
    ITEM_LINKED,
    OFF_CLSID,
    OFF_FLAGS,
    OFF_TIME,
    TEMP_LRU,
    WARM_LRU,
)
from .lru import LRU_MASK, LRU_PULL_CRAWL_BLOCKS

JUGGLE_ROUNDS = 500
BUMP_QUEUE_MAX = 8192


class MaintainerMixin:
    def _maintainer_init(self) -> None:
        self._bumpq: list[int] = []
        self._maint_idle_until: int | None = None

    def _bump_async(self, off: int) -> bool:
        """Queue a COLD item for its move to WARM, holding a reference until drained."""
        if len(self._bumpq) >= BUMP_QUEUE_MAX:
            self._g["lru_bumps_dropped"] += 1
            return False
        self._item_hold(off)
        self._bumpq.append(off)
        return True

    def _item_update(self, off: int) -> None:
        """do_item_update: COLD+ACTIVE goes to WARM; flat mode relinks after 60 s idle."""
        mm = self._mm
        now = self.clock.now
        fl = H16.unpack_from(mm, off + OFF_FLAGS)[0]
        if self._segmented:
            if fl & ITEM_LINKED:
                I32.pack_into(mm, off + OFF_TIME, now)
                if mm[off + OFF_CLSID] & LRU_MASK == COLD_LRU and fl & ITEM_ACTIVE:
                    H16.pack_into(mm, off + OFF_FLAGS, fl & ~ITEM_ACTIVE)
                    self._relink(off, WARM_LRU)
                    self._istats["moves_to_warm"][mm[off + OFF_CLSID] & 63] += 1
        elif I32.unpack_from(mm, off + OFF_TIME)[0] < now - 60 and fl & ITEM_LINKED:
            I32.pack_into(mm, off + OFF_TIME, now)
            self._relink(off, mm[off + OFF_CLSID] & LRU_MASK)

    def _drain_bumps(self, budget: int) -> int:
        q = self._bumpq
        n = min(budget, len(q))
        batch, self._bumpq = q[:n], q[n:]
        for off in batch:
            self._item_update(off)
            self._item_release(off)
        return n

    def _juggle(self, cls: int, budget: int) -> int:
        """lru_maintainer_juggle for one class; returns the rounds that did something."""
        did = 0
        pull = self._pull_tail
        if self._temp_lru:
            for _ in range(min(JUGGLE_ROUNDS, budget)):
                if pull(cls, TEMP_LRU, 0, 0, 0) <= 0:
                    break
                did += 1
        hot_age = warm_age = 0
        total_bytes = 0
        if self._segmented:
            now = self.clock.now
            tail = self._tails[cls | COLD_LRU]
            cold_age = now - I32.unpack_from(self._mm, tail + OFF_TIME)[0] if tail else 0
            hot_age = int(cold_age * self.cfg.hot_max_factor)
            warm_age = int(cold_age * self.cfg.warm_max_factor)
            lb = self._lru_bytes
            total_bytes = lb[cls | COLD_LRU] + lb[cls | HOT_LRU] + lb[cls | WARM_LRU]
        for _ in range(min(JUGGLE_ROUNDS, max(budget - did, 1))):
            more = 0
            if pull(cls, HOT_LRU, total_bytes, LRU_PULL_CRAWL_BLOCKS, hot_age) or pull(
                cls, WARM_LRU, total_bytes, LRU_PULL_CRAWL_BLOCKS, warm_age
            ):
                more += 1
            if self._segmented:
                more += pull(cls, COLD_LRU, 0, LRU_PULL_CRAWL_BLOCKS, 0)
            if not more:
                break
            did += 1
        return did

    def _run_maintainer(self, budget: int) -> int:
        """One maintainer wake-up: bumps first, then juggle classes. Returns work done."""
        if not self.cfg.lru_maintainer:
            return 0
        work = self._drain_bumps(budget)
        now = self.clock.now
        if work == 0 and self._maint_idle_until is not None and now < self._maint_idle_until:
            return 0
        self._g["lru_maintainer_juggles"] += 1
        sizes = self._lru_sizes
        for cls in range(1, self._classes.power_largest + 1):
            if work >= budget:
                break
            if sizes[cls] or sizes[cls | WARM_LRU] or sizes[cls | COLD_LRU] or sizes[cls | 192]:
                work += self._juggle(cls, budget - work)
        self._maint_idle_until = None if work else now + 1
        return work
