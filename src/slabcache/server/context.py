"""The protocol's `ServerContext`, as the network server provides it.

`NetContext` is the one shared, server-wide context (verbosity, `stats detail`, prefix
stats, the watcher registry, conn_yields) built on the protocol's `LocalContext`.
Each connection's codec gets a `ConnContext`: a thin view that delegates everything to the
shared context but knows its own connection, so `stats conns` can mark the connection
running the command (`conn_parse_cmd`) and `watch` can bind the watcher to its socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slabcache.protocol.context import LocalContext, PrefixStats, Watcher, WatcherRegistry
from slabcache.settings import Settings

if TYPE_CHECKING:
    from slabcache.server.connection import Connection
    from slabcache.server.state import ServerState


class NetContext(LocalContext):
    def __init__(self, state: ServerState) -> None:
        super().__init__(state.settings, state.clock)
        self.state = state
        self.watchers = ConnectedRegistry(state)

    def server_stats(self) -> dict[str, int | str]:
        s = self.state.server_stats()
        s["conn_yields"] = self.conn_yields + self.state.conn_yields
        s["log_watcher_skipped"] = self.watchers.skipped
        s["log_watcher_sent"] = self.watchers.sent
        s["log_watchers"] = len(self.watchers.watchers)
        s["log_worker_written"] = self.watchers.written
        return s

    def conn_stats(self) -> list[tuple[str, str]]:
        return self.state.conn_stats(None)

    def request_shutdown(self, graceful: bool) -> None:
        self.state.request_shutdown(graceful)

    def set_verbosity(self, level: int) -> None:
        super().set_verbosity(level)
        self.state.verbose = level

    def count_auth(self, ok: bool) -> None:
        state = self.state
        state.auth_cmds += 1
        if not ok:
            state.auth_errors += 1

    def stats_reset(self) -> None:
        super().stats_reset()
        self.watchers.written = 0
        self.state.stats_reset()


class ConnectedRegistry(WatcherRegistry):
    """The watcher registry with delivery: a watcher's outbox goes to its connection's socket
    once per loop iteration (lines coalesced), and a watcher whose socket is backed up past
    watcher_logbuf_size skips lines instead of growing the server's memory."""

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.state = state
        self.written = 0  # log_worker_written: lines produced while someone watched
        self.pending: Connection | None = None  # the connection whose codec is running

    def add(self, kinds: int) -> Watcher | None:
        w = super().add(kinds)
        conn = self.pending
        if w is not None and conn is not None:
            conn.attach_watcher(w)
        return w

    def emit(self, kind: int, line: bytes) -> None:
        self.written += 1
        super().emit(kind, line)


class ConnContext:
    """Per-connection view of the shared `NetContext` (what `TextProtocol` is given)."""

    __slots__ = ("conn", "shared")

    def __init__(self, shared: NetContext, conn: Connection) -> None:
        self.shared = shared
        self.conn = conn

    # attributes the protocol reads (and a few it updates), all server-wide
    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def clock(self) -> Any:
        return self.shared.clock

    @property
    def verbosity(self) -> int:
        return self.shared.verbosity

    @verbosity.setter
    def verbosity(self, level: int) -> None:
        self.shared.set_verbosity(level)

    @property
    def detail_enabled(self) -> bool:
        return self.shared.detail_enabled

    @detail_enabled.setter
    def detail_enabled(self, on: bool) -> None:
        self.shared.detail_enabled = on

    @property
    def prefix_stats(self) -> PrefixStats:
        return self.shared.prefix_stats

    @property
    def watchers(self) -> WatcherRegistry:
        # `watch` registers through here: remember which connection is asking.
        registry = self.shared.watchers
        registry.pending = self.conn
        return registry

    @property
    def conn_yields(self) -> int:
        return self.shared.conn_yields

    @conn_yields.setter
    def conn_yields(self, n: int) -> None:
        # The codec counts a yield whenever its budget runs out; only a budget of the full
        # -R is memcached's conn_yields (the server lowers it for flow control).
        conn = self.conn
        if conn.codec.max_reqs >= conn.max_reqs:
            self.shared.conn_yields = n

    @property
    def shutdown_requested(self) -> bool | None:
        return self.shared.shutdown_requested

    def server_stats(self) -> dict[str, int | str]:
        return self.shared.server_stats()

    def conn_stats(self) -> list[tuple[str, str]]:
        return self.shared.state.conn_stats(self.conn)

    def request_shutdown(self, graceful: bool) -> None:
        self.shared.request_shutdown(graceful)

    def set_verbosity(self, level: int) -> None:
        self.shared.set_verbosity(level)

    def stats_reset(self) -> None:
        self.shared.stats_reset()

    def __getattr__(self, name: str) -> Any:
        # Anything else the protocol may ask of its context is server-wide too.
        return getattr(self.shared, name)
