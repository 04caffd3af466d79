"""memcached's clock: `current_time` in whole seconds relative to `process_started`.

memcached sets process_started = start - ITEM_UPDATE_INTERVAL - 2, so a fresh server's
current_time is 62 (and `uptime` = current_time - 60 shows 2). Relative times never need to
be negative, which keeps "now - 60" comparisons safe right after start.
"""

from __future__ import annotations

import time

ITEM_UPDATE_INTERVAL = 60
START_OFFSET = ITEM_UPDATE_INTERVAL + 2


class Clock:
    """The server's clock: `tick()` once a second refreshes `now` from the monotonic clock."""

    def __init__(self) -> None:
        self.process_started = int(time.time()) - START_OFFSET
        self._mono_base = time.monotonic() - START_OFFSET
        self.now = START_OFFSET

    def tick(self) -> int:
        self.now = int(time.monotonic() - self._mono_base)
        return self.now


class ManualClock:
    """A test clock: time moves only through `advance(seconds)`."""

    def __init__(self, start_unix: int = 1_700_000_000) -> None:
        self.process_started = start_unix - START_OFFSET
        self.now = START_OFFSET

    def advance(self, seconds: int) -> int:
        if seconds < 0:
            raise ValueError("the clock never goes backwards")
        self.now += int(seconds)
        return self.now

    def tick(self) -> int:
        return self.now
