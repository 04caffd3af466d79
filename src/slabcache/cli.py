"""The `slabcache` command: memcached's command line, plus subcommands.

`slabcache [memcached flags]` runs the server, as `memcached [flags]` would. A first word
that is not a flag names a subcommand (`slabcache doctor ...`); each lives in its own
module exposing `main(argv: list[str]) -> int`, imported only when asked for, so the server
never pays for the operator tools and the tools never start a server.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import resource
import sys
from typing import TextIO

from slabcache import __version__
from slabcache.options import EX_OSERR, EX_USAGE, InfoRequest, OptionExit, parse_args
from slabcache.settings import Settings

PROG = "slabcache"
MEMCACHED_VERSION = "1.6.18"  # what `-V` and `stats` report: clients compare against it

# name -> module with `main(argv) -> int`; the operator tools (doctor, replay, top) register
# here as they are built. Only tools that exist are listed, in `-h` and in errors.
SUBCOMMANDS: dict[str, str] = {}

HELP = f"""\
{PROG} {MEMCACHED_VERSION} (slabcache {__version__}, memcached {MEMCACHED_VERSION} compatible)
usage: {PROG} [options]            run the cache server
-p, --port=<num>          TCP port to listen on (default: 11211, 0 disables TCP)
-U, --udp-port=<num>      UDP port to listen on (default: 0, off; any other value is REFUSED)
-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)
-A, --enable-shutdown     enable ascii "shutdown" command
-l, --listen=<addr>       interface to listen on (default: 127.0.0.1 ONLY; memcached
                          listens on every interface: pass -l '*' for that)
                          comma/semicolon separated, host:port, [v6]:port; notls: is ignored
-d, --daemon              run as a daemon
-r, --enable-coredumps    maximize core file limit
-u, --user=<user>         assume identity of <username> (only when run as root)
                          as root, -u is required (as in memcached): use -u root to stay root
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
                          also raises the open files limit, as memcached does
-v, --verbose             verbose (print errors/warnings while in event loop)
-vv                       very verbose (also print client commands/responses)
                          and print the slab class table at startup
-vvv                      extremely verbose (internal state transitions)
-h, --help                print this help and exit
-i, --license             print the license and exit
-V, --version             print version and exit ("{PROG} {MEMCACHED_VERSION}": the second
                          field is the memcached version slabcache behaves as)
-P, --pidfile=<file>      save PID in <file> (written with or without -d, as memcached does)
-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)
-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)
-D <char>     Use <char> as the delimiter between key prefixes and IDs.
              This is used for per-prefix stats reporting. The default is
              ":" (colon). If this option is specified, stats collection
              is turned on automatically; if not, then it may be turned on
              by sending the "stats detail on" command to the server.
-t, --threads=<num>       number of threads (default: 4); reported as "threads" in
                          stats; slabcache serves from one event loop per process
-R, --max-reqs-per-event  maximum number of requests per event, limits the
                          requests processed per connection to prevent
                          starvation (default: 20)
-C, --disable-cas         disable use of CAS
-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)
-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default:
                          auto-negotiate)
-I, --max-item-size=<num> adjusts max item size
                          (default: 1m, min: 1k, max: 1024m)
-S, --enable-sasl         turn on Sasl authentication (PLAIN; users and passwords
                          from the file named by MEMCACHED_SASL_PWDB, user:password)
-F, --disable-flush-all   disable flush_all command
-X, --disable-dumping     disable stats cachedump and lru_crawler metadump
-W  --disable-watch       disable watch commands (live logging)
-o, --extended            comma separated list of extended options
                          most options have a 'no_' prefix to disable
   - maxconns_fast:       immediately close new connections after limit (default: enabled)
   - hashpower:           an integer multiplier for how large the hash
                          table should be. normally grows at runtime. (default starts at: 0)
                          set based on "STAT hash_power_level"
   - no_hashexpand:       disables hash table expansion (dangerous)
   - tail_repair_time:    time in seconds for how long to wait before
                          forcefully killing LRU tail item.
                          disabled by default; very dangerous option.
   - hash_algorithm:      the hash table algorithm
                          default is murmur3 hash. options: jenkins, murmur3, xxh3
   - lru_crawler, no_lru_crawler: LRU Crawler background work (default: on)
   - lru_crawler_sleep:   microseconds to sleep between items
                          default is 100.
   - lru_crawler_tocrawl: max items to crawl per slab per run
                          default is 0 (unlimited)
   - read_buf_mem_limit:  limit in megabytes for connection read/response buffers.
                          0 means unlimited (default: 0)
   - lru_maintainer, no_lru_maintainer: segmented LRU + its background work (default: on)
   - hot_lru_pct:         pct of slab memory to reserve for hot lru.
                          (requires lru_maintainer, default pct: 20)
   - warm_lru_pct:        pct of slab memory to reserve for warm lru.
                          (requires lru_maintainer, default pct: 40)
   - hot_max_factor:      items idle > cold lru age * drop from hot lru. (default: 0.20)
   - warm_max_factor:     items idle > cold lru age * this drop from warm. (default: 2.00)
   - temporary_ttl:       TTL's below get separate LRU, can't be evicted.
                          (requires lru_maintainer, default: 61)
   - idle_timeout:        timeout for idle connections. (default: 0, no timeout)
   - slab_reassign, no_slab_reassign: slab page mover (default: on)
   - slab_automove:       0, 1 or 2; bare means 1 (default: 1); no_slab_automove = 0
   - slab_automove_ratio: (default: 0.8)
   - slab_automove_window: (default: 30)
   - slab_chunk_max:      (EXPERIMENTAL) maximum slab chunk size in BYTES, as in
                          memcached 1.6.18 (default: 524288)
   - slab_sizes:          '-' separated list of slab class sizes
   - no_chunked_items:    largest chunk is a whole page
   - watcher_logbuf_size: size in kilobytes of per-watcher write buffer. (default: 256)
   - worker_logbuf_size:  size in kilobytes of per-worker-thread buffer
                          read by background thread, then written to watchers. (default: 64)
   - track_sizes:         enable dynamic reports for 'stats sizes' command.
   - modern:              enables options which will be default in future.
                          currently: nothing
   - no_modern:           uses defaults of previous major version (1.4.x)
   - inline_ascii_resp, no_inline_ascii_resp, no_drop_privileges: accepted, no effect
   - resp_obj_mem_limit:  deprecated, ignored with a warning (as in memcached)

Refused at startup (exit status 1, the option is named), never silently ignored:
-U <non-zero> (UDP), -Z (TLS), -Y (auth file), -e (memory file), -L (large pages),
-k (mlockall), -N (NAPI ids), -o ext_* (extstore), -o ssl_*, -o proxy_*,
-o slab_automove_freeratio, -o sock_cookie_id, -o drop_privileges.
memcached's own checks run first, so a command line memcached rejects gets its message.
Startup messages and exit statuses are memcached's; messages that name the program say
"{PROG}". Where memcached 1.6.18 crashes (-o slab_chunk_max=0 or unparsable, a bare
-o slab_sizes or slab_chunk_max) slabcache prints why and exits with a status instead.
-l given twice with the same address binds it once; memcached also drops an -l that is
a substring of an earlier one, slabcache does not.
A first word that is not an option names a tool; memcached ignores stray words, and so
does slabcache after the first option.
"""

LICENSE = f"""\
slabcache {__version__}, a memcached-compatible cache server.

Copyright (c) the slabcache authors. All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are
met:

    * Redistributions of source code must retain the above copyright
notice, this list of conditions and the following disclaimer.

    * Redistributions in binary form must reproduce the above
copyright notice, this list of conditions and the following disclaimer
in the documentation and/or other materials provided with the
distribution.

    * Neither the name of the copyright holders nor the names of its
contributors may be used to endorse or promote products derived from
this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
"AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
(INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

slabcache reimplements the behaviour of memcached (Copyright (c) 2003,
Danga Interactive, Inc.; BSD licensed) and contains none of its code.
"""


def info_text(what: str) -> str:
    if what == "version":
        return f"{PROG} {MEMCACHED_VERSION}\n"
    return HELP if what == "help" else LICENSE


def slab_table_lines(settings: Settings) -> list[str]:
    """What memcached's slabs_init prints at -vv, from the engine's own class table."""
    from slabcache.engine.slabclass import build_classes

    classes = build_classes(settings.engine)
    return [
        f"slab class {i:3d}: chunk size {classes.sizes[i]:9d} perslab {classes.perslab[i]:7d}"
        for i in range(1, classes.power_largest + 1)
    ]


def raise_core_limit() -> None:
    """-r, as memcached: unlimited core files, else the hard limit; none at all is fatal."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_CORE)[0] == 0:
        raise OptionExit(EX_OSERR, "failed to ensure corefile creation\n")


def prepare_process(settings: Settings, stderr: TextIO) -> None:
    """The process-wide steps memcached takes between parsing and the root check (the open
    files limit and the root check itself are the server's: slabcache.server.run)."""
    if settings.enable_coredumps:
        raise_core_limit()
    # memcached prints the class table after the root check; as root without -u the server
    # is about to refuse, so print nothing in that case either.
    refuse_root = (os.getuid() == 0 or os.geteuid() == 0) and not settings.user
    if settings.verbose > 1 and not refuse_root:
        stderr.write("".join(line + "\n" for line in slab_table_lines(settings)))
        stderr.flush()


def run_subcommand(name: str, argv: list[str], stderr: TextIO) -> int:
    module_name = SUBCOMMANDS.get(name)
    if module_name is None:
        stderr.write(
            f"{PROG}: unknown command '{name}' "
            f"(commands: {', '.join(SUBCOMMANDS) or 'none yet'}; "
            f"run '{PROG} -h' for the server's options)\n"
        )
        return EX_USAGE
    if importlib.util.find_spec(module_name) is None:
        stderr.write(f"{PROG}: command '{name}' is not available in this version\n")
        return EX_USAGE
    module = importlib.import_module(module_name)
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-"):
        return run_subcommand(args[0], args[1:], sys.stderr)
    try:
        settings = parse_args(args, PROG)
        prepare_process(settings, sys.stderr)
    except InfoRequest as info:
        sys.stdout.write(info_text(info.what))
        sys.stdout.flush()
        return 0
    except OptionExit as stop:
        sys.stdout.write(stop.stdout)
        sys.stdout.flush()
        sys.stderr.write(stop.stderr)
        sys.stderr.flush()
        return stop.status

    from slabcache.server import run  # lazy: -h/-V and the tools never load the server

    return run(settings)
