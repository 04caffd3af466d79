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
        # the connections queued in this pass; appended to directly by the hot path, which
        # calls schedule() when it finds the list empty
        self.members: list[Flushable] = []

    def add(self, conn: Flushable) -> None:
        """Write `conn`'s queued replies at the end of this pass (add it once per pass)."""
        if not self.members:
            self.schedule()
        self.members.append(conn)

    def schedule(self) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(self.flush)

    def flush(self) -> None:
        members = self.members
        i = 0
        while i < len(members):  # the list stays the one the hot path holds
            members[i].write_unsent()
            i += 1
        members.clear()
