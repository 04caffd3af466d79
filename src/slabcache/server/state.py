"""Server-wide state: connection table and counters, the `stats` fields only the server
knows, `stats conns`, verbosity and the watcher registry. One instance per process; each
connection's codec talks to it through a per-connection `ConnContext` (context.py)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slabcache.protocol.context import LOG_CONNEVENTS
from slabcache.server.context import ConnContext, NetContext
from slabcache.server.listeners import Listener
from slabcache.server.process import rusage_text
from slabcache.server.writebatch import WriteBatch
from slabcache.settings import Settings

if TYPE_CHECKING:
    from slabcache.server.connection import Connection

VERSION = "1.6.18"
RESERVED_FDS = 20  # what memcached keeps back from -c for its own descriptors
CONN_BUF_SIZE = 16384  # memcached's per-connection read buffer / response object size
ITEM_UPDATE_INTERVAL = 60  # memcached's uptime is current_time minus this


class ServerState:
    def __init__(
        self,
        settings: Settings,
        engine: Any,
        clock: Any,
        libevent: str,
        codec_factory: Callable[[Any, Any], Any],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.libevent = libevent
        self.verbose = settings.verbose
        self.started_now = clock.now  # listeners' "last command" time, as in memcached
        self._codec_factory = codec_factory
        self.listeners: list[Listener] = []
        self.conns: dict[int, Connection] = {}  # fd -> connection (client connections)
        self.client_count = 0
        self.peak_clients = 0
        self.stopping = False
        self.on_shutdown: Callable[[bool], None] = lambda graceful: None
        self.on_slot_freed: Callable[[], None] = lambda: None
        self.is_accepting: Callable[[], bool] = lambda: True
        self.reload_hooks: list[Callable[[], None]] = []
        # counters reported in `stats`
        self.total_connections = 0
        self.rejected_connections = 0
        self.bytes_read = 0
        self.bytes_written = 0
        self.conn_yields = 0
        self.idle_kicks = 0
        self.listen_disabled_num = 0
        self.time_in_listen_disabled_us = 0
        self.auth_cmds = 0
        self.auth_errors = 0
        self.malloc_fails = 0
        self.shared = NetContext(self)  # the protocol's server-wide context
        self.write_batch = WriteBatch()  # replies written at the end of each loop pass

    # -- connection table -------------------------------------------------------------------

    def set_listeners(self, listeners: list[Listener]) -> None:
        self.listeners = listeners
        self.total_connections += len(listeners)  # memcached counts its listening conns
        for lst in listeners:
            self.log(2, f"<{lst.fd} server listening (auto-negotiate)")

    def new_codec(self, conn: Connection) -> Any:
        return self._codec_factory(
            self.engine, ConnContext(self.shared, conn), conn.fd, self.settings.reqs_per_event
        )

    def at_limit(self) -> bool:
        return self.client_count >= self.settings.maxconns

    def conn_adopted(self, conn: Connection) -> None:
        self.conns[conn.fd] = conn
        self.client_count += 1
        self.total_connections += 1
        if self.client_count > self.peak_clients:
            self.peak_clients = self.client_count

    def conn_opened(self, conn: Connection) -> None:
        if self.verbose > 1:
            self.log(2, f"<{conn.fd} new auto-negotiating client connection")
        registry = self.shared.watchers
        if registry.mask & LOG_CONNEVENTS:
            registry.log(
                LOG_CONNEVENTS,
                f"type=conn_new rip={conn.peer_ip} rport={conn.peer_port} "
                f"transport={conn.transport_name} cfd={conn.fd}",
            )

    def conn_closed(self, conn: Connection) -> None:
        if self.conns.get(conn.fd) is conn:
            del self.conns[conn.fd]
            self.client_count -= 1
            registry = self.shared.watchers
            if conn.watcher is not None:
                registry.remove(conn.watcher)
            if registry.mask & LOG_CONNEVENTS:
                registry.log(
                    LOG_CONNEVENTS,
                    f"type=conn_close rip={conn.peer_ip} rport={conn.peer_port} "
                    f"transport={conn.transport_name} reason={conn.close_reason} cfd={conn.fd}",
                )
            if self.verbose > 1:
                self.log(2, f"<{conn.fd} connection closed.")
            self.on_slot_freed()

    def close_idle(self, now: int) -> None:
        """memcached's idle_timeout sweep: silently close connections idle > N seconds."""
        limit = self.settings.idle_timeout
        for conn in list(self.conns.values()):
            if conn.watcher is not None or now - conn.last_cmd <= limit:
                continue
            if conn.busy() or conn.reading_block() or conn.swallowing():
                continue  # memcached only kicks connections waiting for a command
            self.idle_kicks += 1
            conn.close_reason = "idle_timeout"
            conn.close()

    # -- stats ------------------------------------------------------------------------------

    def uptime(self) -> int:
        return self.clock.now - ITEM_UPDATE_INTERVAL

    def server_stats(self) -> dict[str, int | str]:
        """The `stats` fields the server owns, in memcached 1.6.18's order."""
        settings = self.settings
        user, system = rusage_text()
        clients = self.client_count
        s: dict[str, int | str] = {
            "pid": os.getpid(),
            "uptime": self.uptime(),
            "time": self.clock.now + self.clock.process_started,
            "version": VERSION,
            "libevent": self.libevent,
            "pointer_size": 64 if sys.maxsize > 2**32 else 32,
            "rusage_user": user,
            "rusage_system": system,
            "max_connections": settings.maxconns,
            "curr_connections": clients,
            "total_connections": self.total_connections,
        }
        if settings.maxconns_fast:
            s["rejected_connections"] = self.rejected_connections
        s.update(
            connection_structures=len(self.listeners) + self.peak_clients,
            response_obj_oom=0,
            response_obj_count=clients,
            response_obj_bytes=clients * CONN_BUF_SIZE,
            read_buf_count=clients + 1,
            read_buf_bytes=(clients + 1) * CONN_BUF_SIZE,
            read_buf_bytes_free=0,
            read_buf_oom=0,
            reserved_fds=RESERVED_FDS,
            auth_cmds=self.auth_cmds,
            auth_errors=self.auth_errors,
        )
        if settings.idle_timeout:
            s["idle_kicks"] = self.idle_kicks
        s.update(
            bytes_read=self.bytes_read,
            bytes_written=self.bytes_written,
            limit_maxbytes=self._limit_maxbytes(),
            accepting_conns=1 if self.is_accepting() else 0,
            listen_disabled_num=self.listen_disabled_num,
            time_in_listen_disabled_us=self.time_in_listen_disabled_us,
            threads=settings.threads,
            conn_yields=self.conn_yields,
            malloc_fails=self.malloc_fails,
            log_worker_dropped=0,
            unexpected_napi_ids=0,
            round_robin_fallback=0,
        )
        return s

    def _limit_maxbytes(self) -> int:
        # the engine's own stats carry the live value (cache_memlimit changes it)
        return int(self.engine.stats_general().get("limit_maxbytes", self.settings.engine.maxbytes))

    def conn_stats(self, current: Connection | None) -> list[tuple[str, str]]:
        """`stats conns`: listeners and clients by descriptor, as memcached lists them."""
        now = self.clock.now
        rows: list[tuple[int, list[tuple[str, str]]]] = []
        for lst in self.listeners:
            fd = lst.fd
            rows.append(
                (
                    fd,
                    [
                        (f"{fd}:addr", lst.name),
                        (f"{fd}:state", "conn_listening"),
                        (f"{fd}:secs_since_last_cmd", str(now - self.started_now)),
                    ],
                )
            )
        for fd, conn in self.conns.items():
            if conn is current:
                cstate = "conn_parse_cmd"
            elif conn.watcher is not None:
                cstate = "conn_watch"
            elif conn.busy():
                cstate = "conn_mwrite"
            elif conn.reading_block():
                cstate = "conn_nread"
            elif conn.swallowing():
                cstate = "conn_swallow"
            elif conn.active:
                cstate = "conn_read"  # waiting for (the rest of) a command line
            else:
                cstate = "conn_new_cmd"
            rows.append(
                (
                    fd,
                    [
                        (f"{fd}:addr", conn.addr),
                        (f"{fd}:listen_addr", conn.listen_addr),
                        (f"{fd}:state", cstate),
                        (f"{fd}:secs_since_last_cmd", str(max(0, now - conn.last_cmd))),
                    ],
                )
            )
        rows.sort(key=lambda row: row[0])
        return [pair for _, pairs in rows for pair in pairs]

    # -- verbosity and watchers -------------------------------------------------------------

    def set_verbosity(self, level: int) -> None:
        self.verbose = level

    def log(self, level: int, line: str) -> None:
        if self.verbose >= level:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def stats_reset(self) -> None:
        """`stats reset`: the counters memcached zeroes (its global and per-thread stats)."""
        self.total_connections = 0
        self.rejected_connections = 0
        self.bytes_read = self.bytes_written = 0
        self.conn_yields = self.idle_kicks = 0
        self.listen_disabled_num = self.time_in_listen_disabled_us = 0
        self.auth_cmds = self.auth_errors = self.malloc_fails = 0

    def reload(self) -> None:
        """SIGHUP: memcached reloads its auth file (and TLS certs) here."""
        self.log(1, "SIGHUP: reloading")
        for hook in self.reload_hooks:
            hook()

    def request_shutdown(self, graceful: bool) -> None:
        asyncio.get_running_loop().call_soon(self.on_shutdown, graceful)
