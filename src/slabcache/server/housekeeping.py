"""Time and background work, kept off the request path.

The clock is polled a few times a second so `current_time` steps within ~0.1 s of each
real second; every step runs `engine.tick()` once (hash-table growth check, crawler
scheduling, automove) and the idle-timeout sweep. Maintainer, crawler and page-mover work
runs through `engine.run_background(budget, elapsed_us)` in small slices, each scheduled at
the engine's own `background_delay()`: back to back only while a crawl, page move or hash
expansion is under way (memcached runs those on their own threads), otherwise at the LRU
maintainer's per-class back-off, which is never shorter than 1 ms.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slabcache.server.state import ServerState

CLOCK_POLL = 0.1  # seconds between clock polls
BACKGROUND_BUDGET = 64  # work units per slice: small enough to stay well under a millisecond
STARTUP_SLICES = 64  # 4096 units: the first autocrawl of an empty cache takes ~256
# longest wait between slices: a crawl or page move asked for by a client starts this soon
MAX_WAIT = 0.1


class Housekeeper:
    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.engine: Any = state.engine
        self.clock: Any = state.clock
        self.loop = loop
        self._clock_handle: asyncio.TimerHandle | None = None
        self._bg_handle: asyncio.Handle | None = None
        self._bg_when = 0.0  # loop time the pending slice is due
        self._last_slice = time.monotonic()
        self.running = False

    def start(self) -> None:
        self.running = True
        # memcached's maintainer schedules the first crawl of every list at startup
        # (a fresh server shows lru_crawler_starts 1): tick once before serving.
        self.engine.tick()
        # memcached's crawler thread finishes that crawl of empty lists at once: do the
        # same before the first client can ask for a crawl of its own (bounded)
        for _ in range(STARTUP_SLICES):
            if not self.engine.run_background(BACKGROUND_BUDGET):
                break
        self._last_slice = time.monotonic()
        self._clock_handle = self.loop.call_later(CLOCK_POLL, self._poll_clock)
        self._schedule(0.0)

    def stop(self) -> None:
        self.running = False
        for handle in (self._clock_handle, self._bg_handle):
            if handle is not None:
                handle.cancel()

    def _poll_clock(self) -> None:
        if not self.running:
            return
        self._clock_handle = self.loop.call_later(CLOCK_POLL, self._poll_clock)
        before = self.clock.now
        if self.clock.tick() == before:
            return
        self.engine.tick()
        if self.state.settings.idle_timeout:
            self.state.close_idle(self.clock.now)
        # tick() may have scheduled work (a crawl, a page move): bring the next slice forward
        self._schedule(self.engine.background_delay())

    def _schedule(self, delay: float) -> None:
        """Run the next slice after `delay` s, unless one is already due sooner."""
        delay = min(delay, MAX_WAIT)
        when = self.loop.time() + delay
        if self._bg_handle is not None:
            if when >= self._bg_when:
                return
            self._bg_handle.cancel()
        self._bg_when = when
        if delay <= 0:
            self._bg_handle = self.loop.call_soon(self._background)
        else:
            self._bg_handle = self.loop.call_later(delay, self._background)

    def _background(self) -> None:
        self._bg_handle = None
        if not self.running:
            return
        now = time.monotonic()
        elapsed_us = int((now - self._last_slice) * 1e6)
        self._last_slice = now
        self.engine.run_background(BACKGROUND_BUDGET, elapsed_us)
        self._schedule(self.engine.background_delay())
