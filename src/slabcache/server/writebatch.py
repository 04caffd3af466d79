"""Replies written at the end of the loop's pass over its ready sockets, not one by one.

A reply written as soon as it is made wakes its client's sleeping epoll_wait each time:
on loopback and in VMs that wake-up is the most expensive part of the write. Connections
served in one pass queue their replies here instead; one callback at the end of the pass
writes them back to back, and a client woken by its first reply finds the others already
there (Redis writes its replies before it sleeps for the same reason). A reply waits at
most for the rest of the pass; the bytes and their order per connection do not change.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def write_unsent(self) -> None: ...


class WriteBatch:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self.members: list[Flushable] = []  # the connections queued in this pass

    def add(self, conn: Flushable) -> None:
        """Write `conn`'s queued replies at the end of this pass (add it once per pass)."""
        if not self.members:
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)
        self.members.append(conn)

    def flush(self) -> None:
        members = self.members
        for conn in members:
            conn.write_unsent()
        members.clear()
