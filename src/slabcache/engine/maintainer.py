"""LRU maintainer (items.c lru_maintainer_thread) run in bounded slices by run_background.

Each wake-up drains the COLD->WARM bump queue, then juggles every class that is due: TEMP
reclaims, then up to 500 rounds of HOT pull / WARM pull / non-evicting COLD pull, with ages
derived from the COLD tail age. The maintainer never evicts. As in memcached, every class has
its own back-off (1 ms growing by 1/8 up to 1 s while its juggles find nothing, halved when
one does something), and `maintainer_delay()` tells the caller when the next class is due.
Time between wake-ups is what the caller reports (`elapsed_us`); a caller that steps the
engine without saying is taken to have slept as long as asked, as memcached's thread does.
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
from .lru import _TAIL, LRU_MASK, LRU_PULL_CRAWL_BLOCKS

JUGGLE_ROUNDS = 500
BUMP_QUEUE_MAX = 8192
MIN_SLEEP_US = 1_000  # memcached's MIN_LRU_MAINTAINER_SLEEP
MAX_SLEEP_US = 1_000_000  # MAX_LRU_MAINTAINER_SLEEP
US_PER_JUGGLE_UNIT = 64  # a unit (one pull round) costs a few µs: a ~5% share at most


class MaintainerMixin:
    def _maintainer_init(self) -> None:
        self._bumpq: list[int] = []
        # per class (index = class id): µs until due, and the back-off that set it
        self._next_juggle = [0] * 64
        self._backoff_juggle = [0] * 64
        self._maint_sleep_us = 0  # what the last wake-up asked to sleep
        self._maint_early_us = 0  # time reported by calls that came before that sleep ended
        self._maint_clock = self.clock.now  # a clock second passing counts as a 1 s sleep

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
            if self._oldest_live is None and self._locked_hv is None:
                return did + self._juggle_plain(
                    cls, max(budget - did, 1), now, total_bytes, hot_age, warm_age
                )
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

    def _juggle_plain(
        self, cls: int, budget: int, now: int, total_bytes: int, hot_age: int, warm_age: int
    ) -> int:
        """_juggle's HOT/WARM/COLD rounds (segmented, nothing flushed) with _pull_tail's
        common case inlined: a tail item linked once, not a marker, not expired, that moves
        or stays. Any other tail goes to _pull_tail, which stays the one full version."""
        pull = self._pull_tail
        relink = self._relink
        tails = self._tails
        lb = self._lru_bytes
        mm = self._mm
        unpack = _TAIL.unpack_from
        marker_end = self._arena.page_size
        ist = self._istats
        to_warm, to_cold = ist["moves_to_warm"], ist["moves_to_cold"]
        cfg = self.cfg
        # lru_pull_tail's limits: HOT's pct (WARM's when that is 0), WARM's pct
        warm_limit = total_bytes * cfg.warm_lru_pct // 100
        hot_limit = total_bytes * cfg.hot_lru_pct // 100 or warm_limit
        hot, warm, cold = cls | HOT_LRU, cls | WARM_LRU, cls | COLD_LRU
        # a COLD tail found staying stays so for the rest of the call: nothing else runs
        # meanwhile (no hit can make it ACTIVE, `now` is fixed), and items join at the head
        cold_stays = 0
        did = 0
        for _ in range(min(JUGGLE_ROUNDS, budget)):
            moved = 0
            tail = tails[hot]
            if tail >= marker_end:
                _p, t, exptime, ref, fl = unpack(mm, tail)
                if ref == 1 and not (exptime and exptime < now):
                    if fl & ITEM_ACTIVE:
                        H16.pack_into(mm, tail + OFF_FLAGS, fl & ~ITEM_ACTIVE)
                        to_warm[cls] += 1
                        relink(tail, WARM_LRU)
                        moved = 1
                    elif lb[hot] > hot_limit or now - t > hot_age:
                        to_cold[cls] += 1
                        relink(tail, COLD_LRU)
                        moved = 1
                else:
                    moved = pull(cls, HOT_LRU, total_bytes, LRU_PULL_CRAWL_BLOCKS, hot_age)
            elif tail:
                moved = pull(cls, HOT_LRU, total_bytes, LRU_PULL_CRAWL_BLOCKS, hot_age)
            if not moved:
                tail = tails[warm]
                if tail >= marker_end:
                    _p, t, exptime, ref, fl = unpack(mm, tail)
                    if ref == 1 and not (exptime and exptime < now) and not fl & ITEM_ACTIVE:
                        if lb[warm] > warm_limit or now - t > warm_age:
                            to_cold[cls] += 1
                            relink(tail, COLD_LRU)
                            moved = 1
                    else:  # an ACTIVE WARM tail moves within WARM and the walk goes on
                        moved = pull(cls, WARM_LRU, total_bytes, LRU_PULL_CRAWL_BLOCKS, warm_age)
                elif tail:
                    moved = pull(cls, WARM_LRU, total_bytes, LRU_PULL_CRAWL_BLOCKS, warm_age)
            more = 1 if moved else 0
            tail = tails[cold]
            if tail >= marker_end:
                if tail != cold_stays:
                    _p, t, exptime, ref, fl = unpack(mm, tail)
                    if ref == 1 and not (exptime and exptime < now):
                        if fl & ITEM_ACTIVE:
                            to_warm[cls] += 1
                            H16.pack_into(mm, tail + OFF_FLAGS, fl & ~ITEM_ACTIVE)
                            relink(tail, WARM_LRU)
                            more += 1
                        else:
                            cold_stays = tail
                    else:
                        more += pull(cls, COLD_LRU, 0, LRU_PULL_CRAWL_BLOCKS, 0)
            elif tail:
                more += pull(cls, COLD_LRU, 0, LRU_PULL_CRAWL_BLOCKS, 0)
            if not more:
                break
            did += 1
        return did

    def maintainer_delay(self) -> float:
        """Seconds until the maintainer has work: 0 with bumps queued, else the next class due."""
        if not self.cfg.lru_maintainer:
            return MAX_SLEEP_US / 1e6
        if len(self._bumpq) > BUMP_QUEUE_MAX // 8:
            return 0.0  # falling behind: drain without waiting
        if self._bumpq:
            return MIN_SLEEP_US / 1e6  # memcached sleeps <= 1 ms after draining bumps
        # a busy class (back-off 0) still waits 1 ms: juggling is never a busy loop
        return max(self._maint_sleep_us, MIN_SLEEP_US) / 1e6 - self._maint_early_us / 1e6

    def _run_maintainer(self, budget: int, elapsed_us: int | None = None) -> int:
        """One maintainer wake-up: bumps first, then juggle the classes that are due.

        `elapsed_us` is the time since the previous wake-up; None means the caller slept as
        asked (memcached counts a sleep of 0 as 1 ms). Classes not due cost one compare.
        """
        if not self.cfg.lru_maintainer:
            return 0
        work = self._drain_bumps(budget)
        slept = max(self._maint_sleep_us, MIN_SLEEP_US) if elapsed_us is None else elapsed_us
        now = self.clock.now
        if now != self._maint_clock:
            # the injected clock moved on: at least that long has passed
            slept = max(slept, (now - self._maint_clock) * 1_000_000)
            self._maint_clock = now
        slept += self._maint_early_us
        if slept < max(self._maint_sleep_us, MIN_SLEEP_US):
            # woken early (a slice for other work): no class is due yet, keep the time
            self._maint_early_us = slept
            return work
        self._maint_early_us = 0
        nxt = self._next_juggle
        top = self._classes.power_largest + 1
        self._g["lru_maintainer_juggles"] += 1
        back = self._backoff_juggle
        sizes = self._lru_sizes
        if elapsed_us is not None:
            # memcached's thread may spin while classes keep finding moves; here the moves
            # share the request loop, so they get a bounded share of the time that passed
            budget = min(budget, work + max(1, slept // US_PER_JUGGLE_UNIT))
        to_sleep = MAX_SLEEP_US
        for cls in range(1, top):
            wait = nxt[cls]
            if wait > slept:
                wait -= slept
                nxt[cls] = wait
                if wait < to_sleep:
                    to_sleep = wait
                continue
            did = 0
            if work < budget and (
                sizes[cls] or sizes[cls | WARM_LRU] or sizes[cls | COLD_LRU] or sizes[cls | 192]
            ):
                did = self._juggle(cls, budget - work)
                work += did
            elif work >= budget:
                nxt[cls] = 0  # out of budget: still due at the next slice
                to_sleep = 0
                continue
            b = back[cls]
            if not did:
                b = min(b + b // 8, MAX_SLEEP_US) if b else MIN_SLEEP_US
            elif b:
                b //= 2
                if b < MIN_SLEEP_US:
                    b = 0
            back[cls] = b
            nxt[cls] = b
            if b < to_sleep:
                to_sleep = b
        self._maint_sleep_us = to_sleep
        return work
