"""Process settings: the server-side options of memcached's command line, plus the engine's.

`slabcache.options` parses memcached's flags into this object; the server reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slabcache.engine.config import EngineConfig


@dataclass
class Settings:
    engine: EngineConfig = field(default_factory=EngineConfig)

    # listeners
    port: int = 11211  # -p; 0 disables TCP
    udp_port: int = 0  # -U
    listen: list[str] = field(default_factory=lambda: ["127.0.0.1"])  # -l (default: loopback only)
    unix_socket: str | None = None  # -s
    unix_mask: int = 0o700  # -a (octal)
    backlog: int = 1024  # -b
    protocol: str = "auto"  # -B auto|ascii|binary

    # connections
    maxconns: int = 1024  # -c
    maxconns_fast: bool = True  # -o maxconns_fast / no_maxconns_fast
    reqs_per_event: int = 20  # -R
    idle_timeout: int = 0  # -o idle_timeout
    read_buf_mem_limit: int = 0  # -o read_buf_mem_limit (MB)
    threads: int = 4  # -t (reported in stats; see README for the process model)

    # behaviour switches
    verbose: int = 0  # -v / -vv / -vvv
    shutdown_enabled: bool = False  # -A
    flush_enabled: bool = True  # -F disables
    dump_enabled: bool = True  # -X disables
    watch_enabled: bool = True  # -W disables
    prefix_delimiter: str = ":"  # -D
    detail_enabled: bool = False  # -D turns stats detail on
    sasl: bool = False  # -S
    tls: bool = False  # -Z
    napi_ids: int = 0  # -N
    auth_file: str | None = None  # -Y
    lock_memory: bool = False  # -k
    enable_coredumps: bool = False  # -r
    large_pages: bool = False  # -L

    # process
    daemonize: bool = False  # -d
    pidfile: str | None = None  # -P
    user: str | None = None  # -u
    watcher_logbuf_size: int = 256 * 1024
    worker_logbuf_size: int = 64 * 1024
