"""Time and background work, kept off the request path.

The clock is polled a few times a second so `current_time` steps within ~0.1 s of each
real second; every step runs `engine.tick()` once (hash-table growth check, crawler
scheduling, automove) and the idle-timeout sweep. Maintainer, crawler and page-mover work
runs through `engine.run_background(budget)` in small slices chained with `call_soon`, so
the loop polls the network between slices; when a slice finds nothing to do the chain
backs off to a timer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slabcache.server.state import ServerState

CLOCK_POLL = 0.1  # seconds between clock polls
BACKGROUND_BUDGET = 64  # work units per slice: small enough to stay well under a millisecond
IDLE_BACKOFF_MIN = 0.01
STARTUP_SLICES = 64  # 4096 units: the first autocrawl of an empty cache takes ~256
IDLE_BACKOFF_MAX = 0.25


class Housekeeper:
    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.engine: Any = state.engine
        self.clock: Any = state.clock
        self.loop = loop
        self._backoff = IDLE_BACKOFF_MIN
        self._clock_handle: asyncio.TimerHandle | None = None
        self._bg_handle: asyncio.Handle | None = None
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
        self._clock_handle = self.loop.call_later(CLOCK_POLL, self._poll_clock)
        self._bg_handle = self.loop.call_soon(self._background)

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
        self._wake_background()

    def _wake_background(self) -> None:
        # tick() may have scheduled work (a crawl, a page move): start slicing now.
        if self._backoff > IDLE_BACKOFF_MIN and self._bg_handle is not None:
            self._bg_handle.cancel()
            self._backoff = IDLE_BACKOFF_MIN
            self._bg_handle = self.loop.call_soon(self._background)

    def _background(self) -> None:
        if not self.running:
            return
        if self.engine.run_background(BACKGROUND_BUDGET):
            self._backoff = IDLE_BACKOFF_MIN
            self._bg_handle = self.loop.call_soon(self._background)
            return
        self._bg_handle = self.loop.call_later(self._backoff, self._background)
        self._backoff = min(self._backoff * 2, IDLE_BACKOFF_MAX)
