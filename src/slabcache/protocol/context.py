"""What the protocol may ask of the server, and the watcher (`watch` command) registry.

The protocol is sans-IO, so anything only the server knows (process stats, connection
table, shutdown, verbosity) comes through a `ServerContext`. `LocalContext` is a complete,
small implementation used by protocol tests and the embedded mode; the network server
subclasses it and overrides `server_stats`, `conn_stats` and `request_shutdown`.

Watchers: `watch` turns a connection into a log consumer. The handler (and the server, for
connection events; the engine's owner, for evictions) call `watchers.emit(kind, line)`;
each matching watcher gets the line appended to its `outbox` and its `wake` callback is
called so the server can schedule a write. `watchers.mask` lets hot paths skip formatting
when nobody listens.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from slabcache.settings import Settings

# watch stream kinds (bit flags, as memcached's LOG_* flags)
LOG_FETCHERS = 1
LOG_MUTATIONS = 2
LOG_EVICTIONS = 4
LOG_CONNEVENTS = 8
LOG_SYSEVENTS = 16
LOG_RAWCMDS = 32
WATCH_KINDS = {
    b"fetchers": LOG_FETCHERS,
    b"mutations": LOG_MUTATIONS,
    b"evictions": LOG_EVICTIONS,
    b"connevents": LOG_CONNEVENTS,
    b"sysevents": LOG_SYSEVENTS,
    b"rawcmds": LOG_RAWCMDS,
}
WATCHER_LIMIT = 20  # memcached's WATCHER_LIMIT
VERSION = "1.6.18"  # the protocol version clients parse (memcached's)


@dataclass(eq=False)
class Watcher:
    kinds: int
    outbox: bytearray = field(default_factory=bytearray)
    wake: Callable[[], None] | None = None  # set by the server: "outbox has data"

    def take(self) -> bytes:
        out = bytes(self.outbox)
        self.outbox.clear()
        return out


class WatcherRegistry:
    def __init__(self, limit: int = WATCHER_LIMIT) -> None:
        self.limit = limit
        self.watchers: list[Watcher] = []
        self.mask = 0  # union of kinds: one int test on hot paths
        self.sent = 0  # log_watcher_sent
        self.skipped = 0  # log_watcher_skipped
        self._gid = 0

    def add(self, kinds: int) -> Watcher | None:
        if len(self.watchers) >= self.limit:
            return None
        w = Watcher(kinds)
        self.watchers.append(w)
        self.mask |= kinds
        return w

    def remove(self, w: Watcher) -> None:
        if w in self.watchers:
            self.watchers.remove(w)
        self.mask = 0
        for other in self.watchers:
            self.mask |= other.kinds

    def next_gid(self) -> int:
        self._gid += 1
        return self._gid

    def emit(self, kind: int, line: bytes) -> None:
        """Deliver one log line (ending in b"\\n") to every watcher of `kind`."""
        for w in self.watchers:
            if w.kinds & kind:
                w.outbox += line
                self.sent += 1
                if w.wake is not None:
                    w.wake()

    def log(self, kind: int, body: str) -> None:
        """Format a memcached log line: `ts=<sec>.<usec> gid=<n> <body>\\n`."""
        if not self.mask & kind:
            return
        now = time.time()
        sec = int(now)
        line = f"ts={sec}.{int((now - sec) * 1e6):06d} gid={self.next_gid()} {body}\n"
        self.emit(kind, line.encode())


class PrefixStats:
    """`stats detail`: per key-prefix get/hit/set/del counters (memcached's stats_prefix)."""

    def __init__(self) -> None:
        self.table: dict[bytes, list[int]] = {}

    def _entry(self, key: bytes, delim: bytes) -> list[int] | None:
        i = key.find(delim)
        if i < 0:
            return None  # keys without the delimiter are not tracked
        prefix = key[:i]
        e = self.table.get(prefix)
        if e is None:
            e = self.table[prefix] = [0, 0, 0, 0]
        return e

    def record(self, key: bytes, delim: bytes, slot: int, hit: bool = False) -> None:
        e = self._entry(key, delim)
        if e is not None:
            e[slot] += 1
            if slot == 0 and hit:
                e[1] += 1

    def dump(self) -> bytes:
        lines = [
            b"PREFIX %s get %d hit %d set %d del %d\r\n" % (p, g, h, s, d)
            for p, (g, h, s, d) in self.table.items()
        ]
        return b"".join(lines) + b"END\r\n"

    def clear(self) -> None:
        self.table.clear()


class ServerContext(Protocol):
    """The interface `TextProtocol` uses. `LocalContext` implements all of it."""

    settings: Settings
    verbosity: int
    detail_enabled: bool
    prefix_stats: PrefixStats
    watchers: WatcherRegistry
    conn_yields: int

    def server_stats(self) -> dict[str, int | str]: ...
    def conn_stats(self) -> list[tuple[str, str]]: ...
    def request_shutdown(self, graceful: bool) -> None: ...
    def set_verbosity(self, level: int) -> None: ...
    def stats_reset(self) -> None: ...


def _tv(seconds: float) -> str:
    """A struct timeval as memcached prints it: `sec.usec`."""
    return f"{int(seconds)}.{int(seconds % 1 * 1e6):06d}"


class LocalContext:
    """In-process context: one process, no sockets. The server subclasses it."""

    def __init__(self, settings: Settings | None = None, clock: object | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self.clock = clock  # engine clock: `now` (relative s), `process_started` (Unix s)
        self.verbosity = self.settings.verbose
        self.detail_enabled = self.settings.detail_enabled
        self.prefix_stats = PrefixStats()
        self.watchers = WatcherRegistry()
        self.conn_yields = 0
        self.shutdown_requested: bool | None = None  # None, or the `graceful` flag
        self.auth_cmds = 0  # SASL attempts (binary protocol, -S)
        self.auth_errors = 0
        self.started = time.time()

    # -- what only the server knows ------------------------------------------------------
    def _times(self) -> tuple[int, int]:
        now = getattr(self.clock, "now", None)
        started = getattr(self.clock, "process_started", None)
        if isinstance(now, int) and isinstance(started, int | float):
            return now, int(started) + now
        up = int(time.time() - self.started)
        return up, int(time.time())

    def server_stats(self) -> dict[str, int | str]:
        """Server-owned fields of `stats`; the server overrides the connection counters."""
        uptime, now = self._times()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        s = self.settings
        return {
            "pid": os.getpid(),
            "uptime": uptime,
            "time": now,
            "version": VERSION,
            "libevent": "slabcache",
            "pointer_size": 64 if sys.maxsize > 2**32 else 32,
            "rusage_user": _tv(ru.ru_utime),
            "rusage_system": _tv(ru.ru_stime),
            "max_connections": s.maxconns,
            "curr_connections": 1,
            "total_connections": 1,
            "threads": s.threads,
            "conn_yields": self.conn_yields,
            "auth_cmds": self.auth_cmds,
            "auth_errors": self.auth_errors,
            "log_watcher_skipped": self.watchers.skipped,
            "log_watcher_sent": self.watchers.sent,
            "log_watchers": len(self.watchers.watchers),
        }

    def conn_stats(self) -> list[tuple[str, str]]:
        return []

    def request_shutdown(self, graceful: bool) -> None:
        self.shutdown_requested = graceful

    def set_verbosity(self, level: int) -> None:
        self.verbosity = level

    def count_auth(self, ok: bool) -> None:
        """A SASL attempt finished (memcached's auth_cmds / auth_errors)."""
        self.auth_cmds += 1
        if not ok:
            self.auth_errors += 1

    def stats_reset(self) -> None:
        self.conn_yields = 0
        self.auth_cmds = self.auth_errors = 0
        self.watchers.sent = self.watchers.skipped = 0
        self.prefix_stats.clear()
