"""memcached 1.6.18's command line, parsed the way its main() parses it.

memcached reads flags with glibc getopt_long (permuting, clustered short flags, unique-prefix
long names), converts numbers with atoi/atof/strto* (lenient: `-p 12abc` is port 12, `-c abc`
is 0), validates some flags inside the loop (exit 1) and the rest after it, in a fixed order
(mostly exit 64). Every message and exit status here was checked against /usr/bin/memcached;
tests/test_options.py runs both binaries on the same arguments. What slabcache cannot honour
is refused after memcached's own validation, so a command line memcached rejects gets
memcached's message, and one it accepts either works here or names the missing feature.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from slabcache.settings import Settings

EX_USAGE = 64
EX_OSERR = 71
ITEM_SIZE_MAX_LOWER_LIMIT = 1024
ITEM_SIZE_MAX_UPPER_LIMIT = 1024 * 1024 * 1024
CHUNK_ALIGN_BYTES = 8
MAX_NUMBER_OF_SLAB_CLASSES = 64

SHORTOPTS = "a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:"
# (name, argument: 0 none / 1 required / 2 optional, short flag), in memcached's table order:
# glibc lists ambiguous prefixes in this order.
LONGOPTS: tuple[tuple[str, int, str], ...] = (
    ("unix-mask", 1, "a"),
    ("enable-shutdown", 0, "A"),
    ("enable-ssl", 0, "Z"),
    ("port", 1, "p"),
    ("unix-socket", 1, "s"),
    ("udp-port", 1, "U"),
    ("memory-limit", 1, "m"),
    ("disable-evictions", 0, "M"),
    ("conn-limit", 1, "c"),
    ("lock-memory", 0, "k"),
    ("help", 0, "h"),
    ("license", 0, "i"),
    ("version", 0, "V"),
    ("enable-coredumps", 0, "r"),
    ("verbose", 2, "v"),
    ("daemon", 0, "d"),
    ("listen", 1, "l"),
    ("user", 1, "u"),
    ("pidfile", 1, "P"),
    ("slab-growth-factor", 1, "f"),
    ("slab-min-size", 1, "n"),
    ("threads", 1, "t"),
    ("enable-largepages", 0, "L"),
    ("max-reqs-per-event", 1, "R"),
    ("disable-cas", 0, "C"),
    ("listen-backlog", 1, "b"),
    ("protocol", 1, "B"),
    ("max-item-size", 1, "I"),
    ("enable-sasl", 0, "S"),
    ("disable-flush-all", 0, "F"),
    ("disable-dumping", 0, "X"),
    ("disable-watch", 0, "W"),
    ("auth-file", 1, "Y"),
    ("memory-file", 1, "e"),
    ("extended", 1, "o"),
    ("napi-ids", 1, "N"),
)

# Features memcached has and slabcache does not (yet): refused at startup, never ignored.
REFUSED_FLAGS = {
    "Z": "-Z (TLS)",
    "e": "-e (memory file / warm restart)",
    "L": "-L (large pages / preallocation)",
    "k": "-k (mlockall)",
    "N": "-N (NAPI ids)",
    "Y": "-Y (ASCII authentication file)",
}
REFUSED_SUBOPTION_PREFIXES = {
    "ext_": "external storage (extstore)",
    "ssl_": "TLS",
    "proxy_": "the proxy",
}
REFUSED_SUBOPTIONS = {
    "slab_automove_freeratio": "external storage (extstore)",
    "sock_cookie_id": "socket cookies",
    "drop_privileges": "seccomp privilege dropping",
}


class OptionExit(Exception):
    """Stop before serving: print `stdout`/`stderr` and exit with `status` (memcached's)."""

    def __init__(self, status: int, stderr: str = "", stdout: str = "") -> None:
        super().__init__(stderr or stdout)
        self.status = status
        self.stderr = stderr
        self.stdout = stdout


class InfoRequest(Exception):
    """-h, -i or -V: print that text and exit 0 (the caller owns the texts)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what  # "help" | "license" | "version"


# --- C number conversions (glibc, LP64) ---------------------------------------------------

_INT_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)(\d*)")
_FLOAT_RE = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.I
)


def wrap(value: int, bits: int, signed: bool = True) -> int:
    """Two's-complement narrowing, as a C cast does on this platform."""
    value &= (1 << bits) - 1
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _strtol(text: str, base: int = 10) -> tuple[int, bool, int]:
    """(value clamped to long, overflowed, characters consumed or 0 if no digits)."""
    m = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9a-zA-Z]*)").match(text)
    assert m is not None
    digits = ""
    for ch in m.group(2):
        if ch.isdigit() and int(ch) < base:
            digits += ch
        else:
            break
    if not digits:
        return 0, False, 0
    value = int(digits, base) * (-1 if m.group(1) == "-" else 1)
    end = m.start(2) + len(digits)
    if value > (1 << 63) - 1:
        return (1 << 63) - 1, True, end
    if value < -(1 << 63):
        return -(1 << 63), True, end
    return value, False, end


def atoi(text: str) -> int:
    """glibc atoi: (int) strtol(text, NULL, 10)."""
    return wrap(_strtol(text)[0], 32)


def atof(text: str) -> float:
    m = _FLOAT_RE.match(text)
    return float(m.group(0)) if m else 0.0


def safe_strtoul(text: str) -> int | None:
    """memcached's safe_strtoul into a uint32_t; None where it returns false."""
    m = _INT_RE.match(text)
    assert m is not None
    if not m.group(2):
        return None
    value = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
    rest = text[m.end() :]
    if value >= 1 << 64 or value < -((1 << 64) - 1):
        return None  # ERANGE
    if rest and not rest[0].isspace():
        return None
    if value < 0 and value % (1 << 64) >= 1 << 63:
        return None  # a '-' sign on a value that reads as negative
    return value % (1 << 64) % (1 << 32)


def safe_strtol(text: str) -> int | None:
    """memcached's safe_strtol into an int32_t; None where it returns false."""
    value, overflow, end = _strtol(text)
    if overflow or end == 0:
        return None
    rest = text[end:]
    if rest and not rest[0].isspace():
        return None
    return wrap(value, 32)


def c_mod(a: int, b: int) -> int:
    """C's % (truncating division), for the negative values atoi lets through."""
    return a - b * int(a / b)


# --- getopt_long ----------------------------------------------------------------------------


def getopt_long(argv: list[str], prog: str, words: list[str]) -> Iterator[tuple[str, str | None]]:
    """glibc getopt_long with permutation: yields (flag, argument) in order; non-option words
    go to `words`. Lazy, because memcached acts on each flag (-V exits) before reading the next.

    An error raises OptionExit with glibc's message plus memcached's `Illegal argument "?"`.
    """
    i = 0

    def fail(message: str) -> OptionExit:
        return OptionExit(1, f'{prog}: {message}\nIllegal argument "?"\n')

    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            words.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            exact = [o for o in LONGOPTS if o[0] == name]
            found = exact or [o for o in LONGOPTS if o[0].startswith(name)]
            if not found:
                raise fail(f"unrecognized option '{arg}'")
            if len(found) > 1:
                names = " ".join(f"'--{o[0]}'" for o in found)
                raise fail(f"option '{arg}' is ambiguous; possibilities: {names}")
            long_name, has_arg, flag = found[0]
            if has_arg == 0 and eq:
                raise fail(f"option '--{long_name}' doesn't allow an argument")
            if has_arg == 1 and not eq:
                if i >= len(argv):
                    raise fail(f"option '--{long_name}' requires an argument")
                value = argv[i]
                i += 1
            yield (flag, value if (eq or has_arg == 1) else None)
            continue
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
            continue
        j = 1
        while j < len(arg):
            ch = arg[j]
            j += 1
            pos = SHORTOPTS.find(ch)
            if ch == ":" or pos < 0:
                raise fail(f"invalid option -- '{ch}'")
            if pos + 1 < len(SHORTOPTS) and SHORTOPTS[pos + 1] == ":":
                if j < len(arg):
                    yield (ch, arg[j:])
                elif i < len(argv):
                    yield (ch, argv[i])
                    i += 1
                else:
                    raise fail(f"option requires an argument -- '{ch}'")
                break
            yield (ch, None)


# --- the option loop ------------------------------------------------------------------------


def _stderr_warn(text: str) -> None:
    import sys

    sys.stderr.write(text)
    sys.stderr.flush()


class _Parse:
    """State memcached's main() keeps beside `settings` while it reads the flags."""

    def __init__(self, prog: str, warn: Callable[[str], None]) -> None:
        self.prog = prog
        self.warn = warn
        self.s = Settings()
        self.e = self.s.engine
        self.tcp_specified = False
        self.udp_specified = False
        self.protocol_specified = False
        self.chunk_max_changed = False
        self.slab_sizes_unparsed: str | None = None
        self.napi_ids = 0
        self.listen: list[str] = []
        self.refused: list[str] = []

    # short flags ------------------------------------------------------------------------------

    def flag(self, c: str, arg: str | None) -> None:
        s, e = self.s, self.e
        a = arg if arg is not None else ""
        if c == "A":
            s.shutdown_enabled = True
        elif c == "a":
            s.unix_mask = wrap(_strtol(a, 8)[0], 32)
        elif c == "U":
            s.udp_port = atoi(a)
            self.udp_specified = True
        elif c == "p":
            s.port = atoi(a)
            self.tcp_specified = True
        elif c == "s":
            s.unix_socket = a
        elif c == "m":
            e.maxbytes = (atoi(a) * 1024 * 1024) % (1 << 64)  # (size_t)atoi(x) * 1 MiB
        elif c == "M":
            e.evict_to_free = False
        elif c == "c":
            s.maxconns = atoi(a)
            if s.maxconns <= 0:
                raise OptionExit(1, "Maximum connections must be greater than 0\n")
        elif c == "h":
            raise InfoRequest("help")
        elif c == "i":
            raise InfoRequest("license")
        elif c == "V":
            raise InfoRequest("version")
        elif c == "k":
            s.lock_memory = True
        elif c == "v":
            s.verbose += 1
        elif c == "l":
            if a not in self.listen:  # memcached skips a -l it already has
                self.listen.append(a)
        elif c == "d":
            s.daemonize = True
        elif c == "r":
            s.enable_coredumps = True
        elif c == "R":
            s.reqs_per_event = atoi(a)
            if s.reqs_per_event == 0:
                raise OptionExit(1, "Number of requests per event must be greater than 0\n")
        elif c == "u":
            s.user = a
        elif c == "P":
            s.pidfile = a
        elif c == "e":
            e.memory_file = a
        elif c == "f":
            e.factor = atof(a)
            if e.factor <= 1.0:
                raise OptionExit(1, "Factor must be greater than 1\n")
        elif c == "n":
            e.chunk_size = atoi(a)
            if e.chunk_size == 0:
                raise OptionExit(1, "Chunk size must be greater than 0\n")
        elif c == "t":
            s.threads = atoi(a)
            if s.threads <= 0:
                raise OptionExit(1, "Number of threads must be greater than 0\n")
            if s.threads > 64:
                self.warn(
                    "WARNING: Setting a high number of workerthreads is not recommended.\n"
                    " Set this value to the number of cores in your machine or less.\n"
                )
        elif c == "D":
            if not a:
                raise OptionExit(1, "No delimiter specified\n")
            s.prefix_delimiter = a[0]
            s.detail_enabled = True
        elif c == "L":
            s.large_pages = True
            e.prealloc = True
        elif c == "C":
            e.use_cas = False
        elif c == "b":
            s.backlog = atoi(a)
        elif c == "B":
            self.protocol_specified = True
            if a not in ("auto", "binary", "ascii"):
                raise OptionExit(
                    EX_USAGE,
                    f"Invalid value for binding protocol: {a}\n"
                    " -- should be one of auto, binary, or ascii\n",
                )
            s.protocol = a
        elif c == "I":
            e.item_size_max = self.item_size(a)
        elif c == "S":
            s.sasl = True
        elif c == "F":
            s.flush_enabled = False
        elif c == "X":
            s.dump_enabled = False
        elif c == "W":
            s.watch_enabled = False
        elif c == "Y":
            s.auth_file = a
        elif c == "Z":
            s.tls = True
        elif c == "N":
            self.napi_ids = atoi(a)
            if self.napi_ids <= 0:
                raise OptionExit(1, "Maximum number of NAPI IDs must be greater than 0\n")
            s.napi_ids = self.napi_ids
        elif c == "o":
            self.suboptions(a)
        if c in REFUSED_FLAGS and REFUSED_FLAGS[c] not in self.refused:
            self.refused.append(REFUSED_FLAGS[c])

    @staticmethod
    def item_size(text: str) -> int:
        """-I: bytes, or a k/m suffix; int arithmetic wraps as in C (`-I 2g` is tiny)."""
        if text and text[-1] in "kKmM":
            size = atoi(text[:-1])
            size *= 1024 if text[-1] in "kK" else 1024 * 1024
            return wrap(size, 32)
        return atoi(text)

    # -o name[=value],... -------------------------------------------------------------------

    def suboptions(self, text: str) -> None:
        # getsubopt: split on ',', name is before the first '='; an empty token is illegal
        # except the one a trailing ',' leaves (the loop stops at the end of the string).
        rest = text
        while rest:
            token, _, rest = rest.partition(",")
            name, eq, value = token.partition("=")
            self.suboption(token, name, value if eq else None)

    def suboption(self, token: str, name: str, value: str | None) -> None:
        s, e = self.s, self.e

        def need(message: str) -> str:
            if value is None:
                raise OptionExit(1, message + "\n")
            return value

        def bad(message: str) -> OptionExit:
            return OptionExit(1, message + "\n")

        for prefix, what in REFUSED_SUBOPTION_PREFIXES.items():
            if name.startswith(prefix):
                raise self.refusal(f"-o {name}", what)
        if name in REFUSED_SUBOPTIONS:
            raise self.refusal(f"-o {name}", REFUSED_SUBOPTIONS[name])

        if name == "maxconns_fast":
            s.maxconns_fast = True
        elif name == "no_maxconns_fast":
            s.maxconns_fast = False
        elif name == "hashpower":
            e.hashpower_init = atoi(need("Missing numeric argument for hashpower"))
            if e.hashpower_init < 12:
                raise bad(f"Initial hashtable multiplier of {e.hashpower_init} is too low")
            if e.hashpower_init > 32:
                raise bad(
                    f"Initial hashtable multiplier of {e.hashpower_init} is too high\n"
                    'Choose a value based on "STAT hash_power_level" from a running instance'
                )
        elif name == "no_hashexpand":
            e.hash_expand = False
        elif name == "slab_reassign":
            e.slab_reassign = True
        elif name == "no_slab_reassign":
            e.slab_reassign = False
        elif name == "slab_automove":
            e.slab_automove = 1 if value is None else atoi(value)
            if not 0 <= e.slab_automove <= 2:
                raise bad("slab_automove must be between 0 and 2")
        elif name == "no_slab_automove":
            e.slab_automove = 0
        elif name == "slab_automove_ratio":
            e.slab_automove_ratio = atof(need("Missing slab_automove_ratio argument"))
            if e.slab_automove_ratio <= 0 or e.slab_automove_ratio > 1:
                raise bad("slab_automove_ratio must be > 0 and < 1")
        elif name == "slab_automove_window":
            e.slab_automove_window = atoi(need("Missing slab_automove_window argument"))
            if e.slab_automove_window < 3:
                raise bad("slab_automove_window must be > 2")
        elif name == "tail_repair_time":
            e.tail_repair_time = atoi(need("Missing numeric argument for tail_repair_time"))
            if e.tail_repair_time < 10:
                raise bad("Cannot set tail_repair_time to less than 10 seconds")
        elif name == "hash_algorithm":
            algo = need("Missing hash_algorithm argument")
            if algo not in ("jenkins", "murmur3", "xxh3"):
                raise bad("Unknown hash_algorithm option (jenkins, murmur3, xxh3)")
            e.hash_algorithm = algo
        elif name == "lru_crawler":
            e.lru_crawler = True
        elif name == "no_lru_crawler":
            e.lru_crawler = False
        elif name == "lru_crawler_sleep":
            e.lru_crawler_sleep = atoi(need("Missing lru_crawler_sleep value"))
            if not 0 <= e.lru_crawler_sleep <= 1000000:
                raise bad("LRU crawler sleep must be between 0 and 1 second")
        elif name == "lru_crawler_tocrawl":
            tocrawl = safe_strtoul(need("Missing lru_crawler_tocrawl value"))
            if tocrawl is None:
                raise bad("lru_crawler_tocrawl takes a numeric 32bit value")
            e.lru_crawler_tocrawl = tocrawl
        elif name == "lru_maintainer":
            e.lru_maintainer = True
            e.lru_segmented = True
        elif name == "no_lru_maintainer":
            e.lru_maintainer = False
        elif name in ("hot_lru_pct", "warm_lru_pct"):
            pct = atoi(need(f"Missing {name} argument"))
            if pct < 1 or pct >= 80:
                raise bad(f"{name} must be > 1 and < 80")
            setattr(e, name, pct)
        elif name in ("hot_max_factor", "warm_max_factor"):
            factor = atof(need(f"Missing {name} argument"))
            if factor <= 0:
                raise bad(f"{name} must be > 0")
            setattr(e, name, factor)
        elif name == "temporary_ttl":
            e.temporary_ttl = atoi(need("Missing temporary_ttl argument"))
            e.temp_lru = True
        elif name == "idle_timeout":
            s.idle_timeout = atoi(need("Missing numeric argument for idle_timeout"))
        elif name in ("watcher_logbuf_size", "worker_logbuf_size"):
            kb = safe_strtoul(need(f"Missing {name} argument"))
            if kb is None:
                raise bad(f"could not parse argument to {name}")
            setattr(s, name, kb * 1024 % (1 << 32))
        elif name == "slab_sizes":
            # memcached crashes (strdup of NULL) on a bare slab_sizes; slabcache says why.
            self.slab_sizes_unparsed = need("Missing slab_sizes argument")
        elif name == "slab_chunk_max":
            # 1.6.18 reads BYTES here (later releases read kilobytes). memcached prints these
            # two messages and carries on (then crashes); slabcache stops at the first.
            raw = need("Missing slab_chunk_max argument")
            chunk_max = safe_strtol(raw)
            if chunk_max is None:
                raise bad("could not parse argument to slab_chunk_max")
            e.slab_chunk_max = chunk_max
            self.chunk_max_changed = True
        elif name == "track_sizes":
            e.track_sizes = True
        elif name in ("inline_ascii_resp", "no_inline_ascii_resp", "modern"):
            pass  # no effect in memcached 1.6.18 either
        elif name == "no_chunked_items":
            e.slab_chunk_max = e.slab_page_size
        elif name == "no_modern":
            if not self.chunk_max_changed:
                e.slab_chunk_max = e.slab_page_size
            e.slab_reassign = False
            e.slab_automove = 0
            s.maxconns_fast = False
            e.lru_segmented = False
            e.hash_algorithm = "jenkins"
            e.lru_crawler = False
            e.lru_maintainer = False
        elif name == "no_drop_privileges":
            pass  # the default: slabcache never drops privileges with seccomp
        elif name == "resp_obj_mem_limit":
            self.warn("DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n")
        elif name == "read_buf_mem_limit":
            mb = safe_strtoul(need("Missing read_buf_mem_limit argument"))
            if mb is None:
                raise bad("could not parse argument to read_buf_mem_limit")
            s.read_buf_mem_limit = mb
        else:
            raise bad(f'Illegal suboption "{token}"')

    def refusal(self, what: str, feature: str) -> OptionExit:
        return OptionExit(1, f"{self.prog}: {what} is not supported: slabcache has no {feature}\n")

    # after the loop: memcached's checks, in memcached's order -------------------------------

    def finish(self) -> Settings:
        s, e = self.s, self.e
        if self.listen:
            s.listen = self.listen
        if self.napi_ids > s.threads:
            raise OptionExit(
                EX_USAGE,
                f"Number of napi_ids({self.napi_ids}) cannot be greater than "
                f"number of threads({s.threads})\n",
            )
        if e.item_size_max < ITEM_SIZE_MAX_LOWER_LIMIT:
            raise OptionExit(EX_USAGE, "Item max size cannot be less than 1024 bytes.\n")
        if e.item_size_max > e.maxbytes // 2:
            raise OptionExit(
                EX_USAGE, "Cannot set item size limit higher than 1/2 of memory max.\n"
            )
        if e.item_size_max > ITEM_SIZE_MAX_UPPER_LIMIT:
            raise OptionExit(EX_USAGE, "Cannot set item size limit higher than a gigabyte.\n")
        if e.item_size_max > 1024 * 1024 and not self.chunk_max_changed:
            e.slab_chunk_max = e.slab_page_size // 2
        if e.slab_chunk_max > e.item_size_max:
            raise OptionExit(
                EX_USAGE,
                f"slab_chunk_max (bytes: {e.slab_chunk_max}) cannot be larger than "
                f"-I (item_size_max {e.item_size_max})\n",
            )
        if e.slab_chunk_max == 0:
            # memcached dies of SIGFPE (a division by zero) here.
            raise OptionExit(EX_USAGE, "slab_chunk_max (bytes: 0) must be greater than 0\n")
        if c_mod(e.item_size_max, e.slab_chunk_max) != 0:
            raise OptionExit(
                EX_USAGE,
                f"-I (item_size_max: {e.item_size_max}) must be evenly divisible by "
                f"slab_chunk_max (bytes: {e.slab_chunk_max})\n",
            )
        if c_mod(e.slab_page_size, e.slab_chunk_max) != 0:
            raise OptionExit(
                EX_USAGE,
                f"slab_chunk_max (bytes: {e.slab_chunk_max}) must divide evenly into "
                f"{e.slab_page_size} (slab_page_size)\n",
            )
        if self.slab_sizes_unparsed is not None:
            e.slab_sizes = self.parse_slab_sizes(self.slab_sizes_unparsed)
        if e.hot_lru_pct + e.warm_lru_pct > 80:
            raise OptionExit(
                EX_USAGE, "hot_lru_pct + warm_lru_pct cannot be more than 80% combined\n"
            )
        if e.temp_lru and not e.lru_maintainer:
            raise OptionExit(EX_USAGE, "temporary_ttl requires lru_maintainer to be enabled\n")
        if s.sasl:
            if not self.protocol_specified:
                s.protocol = "binary"
            elif s.protocol != "binary":
                raise OptionExit(
                    EX_USAGE, "ERROR: You cannot allow the ASCII protocol while using SASL.\n"
                )
            if s.udp_port:
                raise OptionExit(
                    EX_USAGE,
                    "ERROR: Cannot enable UDP while using binary SASL authentication.\n",
                )
        if s.auth_file:
            if not self.protocol_specified:
                s.protocol = "ascii"
            elif s.protocol != "ascii":
                raise OptionExit(
                    EX_USAGE,
                    "ERROR: You cannot allow the BINARY protocol while using "
                    "ascii authentication tokens.\n",
                )
        if self.udp_specified and s.udp_port != 0 and not self.tcp_specified:
            s.port = s.udp_port
        if s.tls and s.port == 0:
            raise OptionExit(EX_USAGE, "ERROR: You cannot enable SSL without a TCP port.\n")
        if s.port > 65535:
            raise OptionExit(EX_USAGE, f"ERROR: Invalid port number {s.port}.\n")
        self.refuse_unsupported()
        return s

    def parse_slab_sizes(self, text: str) -> tuple[int, ...]:
        if not text:
            raise OptionExit(EX_USAGE)  # memcached exits 64 without a word
        sizes: list[int] = []
        last = 0
        for part in (p for p in text.split("-") if p):
            size = safe_strtoul(part)
            if size is None or size < self.e.chunk_size or size > self.e.slab_chunk_max:
                raise OptionExit(EX_USAGE, f"slab size {size or 0} is out of valid range\n")
            if last >= size:
                raise OptionExit(
                    EX_USAGE,
                    f"slab size {size} cannot be lower than or equal to a previous class size\n",
                )
            if size <= last + CHUNK_ALIGN_BYTES:
                raise OptionExit(
                    EX_USAGE,
                    f"slab size {size} must be at least {CHUNK_ALIGN_BYTES} bytes larger "
                    "than previous class\n",
                )
            sizes.append(size)
            last = size
            if len(sizes) >= MAX_NUMBER_OF_SLAB_CLASSES - 1:
                raise OptionExit(EX_USAGE, "too many slab classes specified\n")
        return tuple(sizes)

    def refuse_unsupported(self) -> None:
        s = self.s
        if s.udp_port != 0:
            self.refused.insert(0, "-U (UDP)")
        if self.refused:
            listed = ", ".join(self.refused)
            raise OptionExit(1, f"{self.prog}: not supported by slabcache: {listed}\n")


def parse_args(
    argv: list[str],
    prog: str = "slabcache",
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """memcached's flags -> Settings. Raises OptionExit (print, exit with its status) for a
    bad or refused command line and InfoRequest for -h/-i/-V; warnings go to `warn`."""
    state = _Parse(prog, warn or _stderr_warn)
    words: list[str] = []
    for flag, arg in getopt_long(list(argv), prog, words):
        state.flag(flag, arg)
    # memcached ignores words that are not options; so does the plain server.
    return state.finish()
