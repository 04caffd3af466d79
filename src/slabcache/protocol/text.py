"""memcached 1.6.18 text protocol framing: bytes in, replies out, no I/O.

Receive buffer plan (h11 style). Operations: append received bytes; find the next "\\n";
take a command line; take a data block of exactly <bytes>+2; discard a swallowed block.
Goal: worst case O(n) in bytes received, whatever the fragmentation.

* One `bytearray` plus a read offset `_pos`. Taking a line or a block advances `_pos` and
  copies only the bytes taken (O(len)).
* The "\\n" search resumes where the previous one stopped (`_scan`), so a long line
  arriving byte by byte is scanned once in total: O(len) overall, not O(len^2).
* A data block is not looked at until all of it has arrived (`_need`): each feed costs
  O(len(feed)) for the append and O(1) for the check.
* Swallowed blocks (too large) are dropped as they arrive and never buffered.
* Compaction (`del buf[:pos]`) runs once per feed, after parsing, and only when something
  was consumed; it moves the unconsumed tail, which is at most one partial request. The
  next feed starts at offset 0 and the tail is not moved again until consumed.
  Every byte is therefore moved at most once by compaction: O(n) overall.

Line-level rules (memcached's tokenizer, line-length guard, HTTP probe, NUL truncation)
live here; the commands themselves are in handler.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slabcache.protocol.context import LOG_FETCHERS, LOG_MUTATIONS, LocalContext, ServerContext
from slabcache.protocol.handler import (
    BAD_CHUNK,
    BAD_FORMAT,
    END,
    ERROR,
    ITEM_HEADER,
    KEY_MAX_LENGTH,
    STORE_MODES,
    STORE_REPLY,
    STORED_REPLY,
    CommandHandler,
    StoreMode,
    StoreResult,
    _name,
    _Unsupported,
)
from slabcache.protocol.meta import EN, MetaCommands
from slabcache.protocol.numbers import strtol32, strtoul32, strtoull

MAX_TOKENS = 24  # memcached's tokenizer keeps 23 tokens + a terminal one
LINE_GUARD = 2048  # more than this buffered without "\n" must be a get/gets, else close
LARGE_STEP = 256 * 1024  # a step stops once its replies are this large (memory bound)
READ_BUFFER = 16384  # memcached's read buffer: a longer data block always ends with a read
INT_MAX = (1 << 31) - 1
SET = StoreMode.SET
STORED = StoreResult.STORED  # compared by identity: an enum's hash is a Python-level call
STORED_LINE = b"STORED\r\n"
VALUE_ = b"VALUE "
READ_OOM = b"SERVER_ERROR Out of memory during read\r\n"  # a data chunk could not be had

# argument count rules of 1.6.18's process_command_ascii (ntokens includes the terminal)
_EXACT = {
    b"set": (6, 7), b"add": (6, 7), b"replace": (6, 7), b"append": (6, 7),
    b"prepend": (6, 7), b"cas": (7, 8), b"incr": (4, 5), b"decr": (4, 5),
    b"touch": (4, 5), b"verbosity": (3, 4), b"cache_memlimit": (3, 4),
}  # fmt: skip
_RANGE = {b"delete": (3, 5), b"flush_all": (2, 4)}
_MIN = {b"get": 3, b"gets": 3, b"gat": 3, b"gats": 3, b"bget": 3, b"lru": 3}


_MG_LINE = rb"mg [^ \n]{1,250} v\r\n"
_MG_KEY = re.compile(rb"mg ([^ \n]{1,250}) v\r\n")
_GET_LINE = rb"get [^ \n]{1,250}\r\n"
_GET_KEY = re.compile(rb"get ([^ \n]{1,250})\r\n")
_RUNS: dict[tuple[bytes, int], Callable[..., Any]] = {}


def _run_keys(
    line: bytes, key: re.Pattern[bytes], data: bytes, pos: int, stop: int, budget: int
) -> list[bytes] | None:
    """The keys of the run of `line`s at `pos` (None: the line there is not one)."""
    m = _run_matcher(line, budget)(data, pos, stop)
    return None if m is None else key.findall(data, pos, m.end())


def _run_matcher(line: bytes, budget: int) -> Callable[..., Any]:
    """`match` of a run of `line`s, at most budget + 1 long (-1: unbounded), so a run is not
    scanned past where the budget stops it."""
    most = b"" if budget < 0 else b"%d" % (budget + 1)
    fn = _RUNS.get((line, budget))
    if fn is None:
        fn = _RUNS[(line, budget)] = re.compile(b"(?:%s){1,%s}" % (line, most)).match
    return fn


# a plain set line: decimals of at most 9 digits need none of strtol's quirks
_SET_LINE = re.compile(
    rb"set ([^ \n\0]{1,250}) ([0-9]{1,9}) ([0-9]{1,9}) ([0-9]{1,9})( noreply)?\r\n"
)
_VA: dict[int, bytes] = {}  # "VA <n>\r\n" by value length, for the common sizes


def _value(data: bytes, start: int, stop: int) -> bytes | memoryview:
    """A data block for the engine to copy into the item: large ones are not copied twice."""
    return data[start:stop] if stop - start < 2048 else memoryview(data)[start:stop]


# " <flags> <bytes>\r\n" of VALUE lines by (flags << 32 | len(value + CRLF)): replies are
# queued as pieces (VALUE, key, this, value), joined once when written
_SFX: dict[int, bytes] = {}


def _value_suffix(flags: int, n: int) -> bytes:
    line = b" %d %d\r\n" % (flags, n - 2)
    if len(_SFX) < 4096:
        _SFX[flags << 32 | n] = line
    return line


def _va_line(n: int) -> bytes:
    line = b"VA %d\r\n" % n
    if len(_VA) < 4096:
        _VA[n] = line
    return line


def tokenize(line: bytes) -> tuple[list[bytes], bool]:
    """Space-only tokens, at most 23; the flag says whether more text followed."""
    toks = [t for t in line.split(b" ") if t]
    if len(toks) > MAX_TOKENS - 1:
        return toks[: MAX_TOKENS - 1], True
    return toks, False


class TextProtocol(CommandHandler):
    """One text-protocol connection. Feed `receive_data`, send `data_to_send()`.

    `max_reqs` (memcached's -R) bounds the commands run per feed; when it is hit,
    `pending` is True, `ctx.conn_yields` is counted, and the server calls `resume()` after
    writing the replies. 0 means no bound.
    """

    def __init__(
        self,
        engine: Any,
        ctx: ServerContext | None = None,
        cfd: int = 0,
        max_reqs: int = 0,
    ) -> None:
        super().__init__(engine, ctx if ctx is not None else LocalContext(), cfd)
        self._buf = bytearray()  # unconsumed bytes between feeds (at most one request)
        self._data = b""  # the bytes being run, for commands that take their data block
        self._pos = 0  # offset in _data after the current command line
        self._refill = False  # a data block ended with a read: the step starts afresh
        # memcached's read buffer: its size (grown only for a long multiget line) and the
        # bytes of the current fill still unparsed when a step pauses (-R, large replies)
        self._rsize = READ_BUFFER
        self._win = READ_BUFFER
        self._live = getattr(self.ctx, "shared", self.ctx)  # holds detail/watch switches
        self._scan = 0  # offset where the next "\n" search starts
        self._need = 0  # bytes of data block awaited (incl. CRLF)
        # two-phase storage (engine.alloc_item): the item allocated when the line was parsed,
        # filled as the block arrives
        self._alloc = engine.alloc_item
        self._get = engine.get  # the one-request path's engine calls, bound once
        self._store = engine.store
        # (handle, done(terminator_ok), noreply): the item being read, what completes it
        self._held: tuple[int, Callable[[bool], None], bool] | None = None
        self._tail = b""  # the block's last bytes so far: its CRLF check
        cfg = getattr(engine, "config", None) or self.ctx.settings.engine
        # key + flags suffix + block bytes that still fit one slab chunk
        chunk = min(cfg.slab_chunk_max, cfg.item_size_max)
        self._one_chunk = chunk - ITEM_HEADER - 1 - self._cas_bytes
        self._pending_meta: Callable[[bytes], None] | None = None  # ms awaiting its block
        self._meta: MetaCommands | None = None  # created on the first meta command
        self._swallow = 0  # bytes still to discard
        self._deferred = b""  # reply memcached sends once the swallowed block is through
        self.max_reqs = max_reqs
        self.pending = False
        self._dispatch = {
            b"delete": self.cmd_delete,
            b"incr": self.cmd_delta,
            b"decr": self.cmd_delta,
            b"touch": self.cmd_touch,
            b"flush_all": self.cmd_flush_all,
            b"version": self.cmd_version,
            b"quit": self.cmd_quit,
            b"verbosity": self.cmd_verbosity,
            b"shutdown": self.cmd_shutdown,
            b"cache_memlimit": self.cmd_cache_memlimit,
            b"slabs": self.cmd_slabs,
            b"lru": self.cmd_lru,
            b"lru_crawler": self.cmd_lru_crawler,
            b"watch": self.cmd_watch,
            b"stats": self.cmd_stats,
        }

    # -- public API ----------------------------------------------------------------------
    def quick(self, data: bytes) -> bytes | None:
        """The reply to a read that is exactly one `get` line or one plain `set` of a
        one-chunk item, when nothing is buffered, held, queued, owed or watched (one request
        in flight). None: the read goes to receive_data. The server's hot path."""
        if not data.endswith(b"\r\n"):
            return None
        live = self._live
        if (
            self._need
            or self._swallow
            or self._buf
            or self._out
            or self.pending
            or self.closing  # (a held item always has _need set)
            or self.watcher is not None
            or self._dump is not None
            or live.detail_enabled
            or live.watchers.mask
        ):
            return None
        if data.startswith(b"get "):
            key = data[4:-2]
            if 10 in key or 0 in key:  # ints: a bytes needle costs a caught TypeError first
                return None
            if 0 < len(key) <= KEY_MAX_LENGTH and 32 not in key:
                r = self._get(key)
                if r is None:
                    return END
                flags, v, _cas = r
                n = len(v)
                sfx = _SFX.get(flags << 32 | n if flags else n) or _value_suffix(flags, n)
                return b"".join((VALUE_, key, sfx, v, END))
            if len(data) <= LINE_GUARD:
                return self._quick_multiget(key)
        elif data.startswith(b"set "):
            # a plain set whose block ends the read and fits one chunk; noreply, odd numbers,
            # NUL, a partial block... go the long way
            m = _SET_LINE.match(data)
            if m is None or m[5] is not None:
                return None
            done = self._plain_set(m, data, len(data), len(data))
            if done is None:
                return None
            res = done[1]
            return STORED_LINE if res is STORED else STORED_REPLY[res]
        return None

    def receive_data(self, data: bytes) -> None:
        reply = self.quick(data)
        if reply is not None:
            self._out.append(reply)
            self._kept = 1  # the read ended with this command: memcached flushes
            return
        if self.closing or self.watcher is not None:
            return  # memcached stops reading from closing connections and watchers
        if self._swallow:
            n = min(self._swallow, len(data))
            self._swallow -= n
            data = data[n:]
            if not self._swallow:
                self._swallowed()
        buf = self._buf
        if buf or self.pending or self._dump is not None:
            buf += data
            if self.pending or self._dump is not None:
                return
            if self._need:
                if len(buf) < self._need and self._held is None:
                    return  # the data block is still incomplete: nothing to run
            elif buf.find(b"\n", self._scan) < 0:
                self._scan = len(buf)
                if len(buf) > LINE_GUARD and not self._long_get_ok(bytes(buf[:110])):
                    self.closing = True
                return
            data = bytes(buf)
            buf.clear()
            self._scan = 0
        self._process(data, self._rsize)

    def _quick_multiget(self, line: bytes) -> bytes | None:
        """The reply to one multi-key get line (its keys, spaces between); None leaves a
        line with an over-long key or no key to the framing loop."""
        keys = line.split(b" ")
        if not all(keys):
            keys = [k for k in keys if k]  # doubled spaces
            if not keys:
                return None
        if max(map(len, keys)) > KEY_MAX_LENGTH:
            return None
        out: list[bytes] = []
        self._queue_values(keys, out)
        out.append(END)
        return b"".join(out)

    def _queue_values(self, keys: list[bytes], out: list[bytes]) -> int:
        """Looks the keys up and queues a VALUE reply per hit on `out`, as pieces; returns
        the bytes of the large values among them (a step pauses after many)."""
        big = 0
        for key, v in zip(keys, self.engine.get_values(keys), strict=True):
            if v is None:
                continue
            if v.__class__ is tuple:
                flags, v = v
                n = len(v)
                sfx = _SFX.get(flags << 32 | n) or _value_suffix(flags, n)
            else:
                n = len(v)
                sfx = _SFX.get(n) or _value_suffix(0, n)
            out += (VALUE_, key, sfx, v)
            if n > 4096:
                big += n
        return big

    def _plain_set(
        self, m: re.Match[bytes], data: bytes, lo: int, hi: int
    ) -> tuple[int, object] | None:
        """Stores the plain set line `m` matched in one engine call when its block (CRLF
        included) ends between offsets `lo` and `hi` of `data` and the item fits one chunk:
        (offset after the block, engine result). None: the general path takes the line."""
        key, fl, ex, nb, _nr = m.groups()
        start = m.end()
        end = start + int(nb) + 2
        flags = int(fl)
        if (
            end < lo
            or end > hi
            or data[end - 2 : end] != b"\r\n"
            or len(key) + (4 if flags else 0) + end - start > self._one_chunk
        ):
            return None
        # the block with its CRLF, one copy into the item (large ones not copied twice)
        block = data[start:end] if end - start < 2048 else memoryview(data)[start:end]
        return end, self._store(SET, key, flags, int(ex), block, None, True)

    def resume(self) -> None:
        """Continue after a -R yield (or after a metadump finished)."""
        self.pending = False
        if self._dump is None and self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self._scan = 0
            self._process(data, self._win, resumed=True)  # parsing on in the same fill

    def data_to_send(self) -> bytes:
        out = self._out
        if self._dump is None:
            if not out:
                return b""
            data = b"".join(out)
            out.clear()
            self._kept = 0
            return data
        data = b"".join(out)
        out.clear()
        self._kept = 0
        data += self.dump_chunk()
        if self._dump is None:
            self.resume()
            data += b"".join(out)
            out.clear()
        return data

    @property
    def reading_block(self) -> bool:
        """A storage command waits for its data block (memcached's conn_nread)."""
        return bool(self._need)

    @property
    def swallowing(self) -> bool:
        """The data block of a refused storage command is being discarded (conn_swallow)."""
        return bool(self._swallow)

    @property
    def dumping(self) -> bool:
        """A metadump is streaming: keep calling data_to_send() until False."""
        return self._dump is not None

    # -- framing -------------------------------------------------------------------------
    def _process(self, data: bytes, window: int, resumed: bool = False) -> None:
        """Run the commands in `data` (immutable) within one -R step; keep the rest.

        Hot path: get, `mg <key> v` and set go from the line straight to the engine; the
        general path (tokenizer, _command) runs everything else. Each command costs one
        unit of the step's budget, as memcached's nreqs does.

        memcached reads at most its 16 KB buffer at a time: `data[:window]` is that first
        fill (bytes carried over from the last read count toward it). Where a fill runs out
        of whole commands memcached flushes its queued replies and reads on, so each fill's
        end is a flush point (see _refilled). A data block past the fill is read straight
        into the item; the next fill starts after it.

        A step that starts with a read runs -R + 1 commands: memcached's conn_new_cmd
        spends its first nreqs unit only after the first command. One resumed after a -R
        yield starts in conn_new_cmd and runs -R.
        """
        pos = 0
        win_end = window
        size = len(data)
        fresh = self.max_reqs + 1 if self.max_reqs else -1
        budget = (self.max_reqs or -1) if resumed else fresh
        big = 0  # bytes of large replies made in this step
        out = self._out
        live = self._live
        nul = 0 in data  # such lines are cut at the NUL: the general path does that
        try:
            while True:
                # state only the general path changes: re-read after each general command
                if self.closing or self.watcher is not None or self._dump is not None:
                    return
                need = self._need
                if need and self._held is not None:
                    # the held item takes the block's bytes as they arrive (conn_nread)
                    if pos == size:
                        return
                    self._data = data
                    self._pos = pos
                    self._feed_held()
                    pos = self._pos
                    if self._need or self._swallow:
                        return  # the rest comes with later reads
                    self._barrier()
                    budget = fresh
                    win_end = self._refilled(pos)
                    continue
                if need:
                    if size - pos < need:
                        return
                    end = pos + need
                    self._need = 0
                    self._finish_store(data[pos:end])
                    pos = end
                    self._barrier()
                    budget = fresh  # memcached starts a new event after the flush
                    win_end = self._refilled(pos)
                    continue
                fast = not (nul or live.detail_enabled or live.watchers.mask)
                meta = self._meta
                mg_ok = fast and meta is not None and not meta.ops.marked
                while True:
                    if pos >= win_end:
                        # the fill ended at this command's end, or its block was read
                        # past it: memcached flushed, and reads afresh from here
                        win_end = self._refilled(pos)
                        budget = fresh
                    nl = data.find(b"\n", pos)
                    if nl >= win_end or (nl < 0 and size > win_end):
                        # the fill ends inside this line: "we need more data!", so
                        # memcached flushes its queued replies and reads on
                        partial = win_end - pos
                        if partial > LINE_GUARD and not self._long_get_ok(data[pos : pos + 110]):
                            self.closing = True
                            return
                        self._kept = len(out)
                        budget = fresh
                        win_end = pos + self._refill_size(partial, size - pos)
                        continue
                    if nl < 0:
                        if size - pos > LINE_GUARD and not self._long_get_ok(data[pos : pos + 110]):
                            self.closing = True
                        return
                    if budget == 0:
                        self.pending = True
                        return
                    budget -= 1
                    if budget == 0:
                        # memcached counts the yield as its nreqs runs out, whether or
                        # not more commands are buffered
                        self.ctx.conn_yields += 1
                    end = nl - 1 if nl > pos and data[nl - 1] == 13 else nl
                    if fast:
                        if data.startswith(b"get ", pos):
                            run = self._get_run(data, pos, win_end, budget)
                            if run is not None:
                                pos, budget, grown = run
                                if grown:
                                    big += grown
                                    if big > LARGE_STEP:
                                        self.pending = True  # write these before going on
                                        return
                                continue
                            keys = data[pos + 4 : end].split(b" ")
                            if keys[0] or any(keys):
                                bad = max(map(len, keys)) > KEY_MAX_LENGTH
                                if bad:
                                    # the keys before an over-long one are looked up, then
                                    # what is queued since the last flush is dropped
                                    long = next(
                                        i for i, k in enumerate(keys) if len(k) > KEY_MAX_LENGTH
                                    )
                                    keys = keys[:long]
                                if not all(keys):
                                    keys = [k for k in keys if k]  # doubled spaces
                                big += self._queue_values(keys, out)
                                if bad:
                                    del out[self._kept :]
                                    out.append(BAD_FORMAT)
                                else:
                                    out.append(END)
                                    self._kept = len(out)  # a finished get is sent at once
                                pos = nl + 1
                                if big > LARGE_STEP:
                                    self.pending = True  # write these before going on
                                    return
                                continue
                        elif mg_ok and data.startswith(b"mg ", pos):
                            run = self._mg_run(data, pos, win_end, budget)
                            if run is not None:
                                pos, budget = run
                                continue
                        elif data.startswith(b"set ", pos):
                            m = _SET_LINE.match(data, pos)
                            if m is not None:
                                # a block that is all here and within one read buffer
                                done = self._plain_set(m, data, 0, min(size, nl + 1 + READ_BUFFER))
                                if done is not None:
                                    pos, res = done
                                    if m[5] is None:
                                        out.append(
                                            STORED_LINE if res is STORED else STORED_REPLY[res]
                                        )
                                    continue
                            t = data[pos:end].split(b" ")
                            nt = len(t)
                            if (nt == 5 or nt == 6) and all(t):
                                self._data = data
                                self._pos = nl + 1
                                self._refill = False
                                self._storage(b"set", t)
                                pos = self._pos
                                if self._need or self._swallow or self._refill:
                                    break  # the block is not all here, or ended a step
                                continue
                    line = data[pos:end]
                    self._data = data
                    self._pos = nl + 1
                    self._refill = False
                    mark = len(out)
                    self._command(line)
                    pos = self._pos
                    if budget == 0 and self.closing:
                        # memcached counts the yield on its way to the next command, which
                        # a connection that closes (quit) never takes
                        self.ctx.conn_yields -= 1
                    if len(out) > mark:
                        big += sum(map(len, out[mark:]))
                    break
                if big > LARGE_STEP:
                    self.pending = True  # large replies: write them before going on
                    return
                if self._swallow:
                    # a refused block: drop what is here, the rest as it arrives
                    n = min(self._swallow, size - pos)
                    pos += n
                    self._swallow -= n
                    if self._swallow:
                        return
                    self._swallowed()
                    budget = fresh
                elif self._refill:
                    budget = fresh
        finally:
            self._data = b""
            self._win = max(win_end - pos, 0)
            if pos < size:
                self._buf += memoryview(data)[pos:]
                self._scan = 0 if self._need else len(self._buf)
            elif not self.pending:
                self._rsize = READ_BUFFER  # an empty buffer is given back (rbuf_release)

    # Pipelined runs: consecutive `mg <key> v` or single-key `get <key>` lines (CRLF, keys
    # of 1..250 bytes without spaces) found by one regex match and answered in one loop.
    # The run's first line has had its -R unit taken; each further line takes one, and the
    # run stops where the budget does (counting memcached's conn_yield there).
    def _mg_run(self, data: bytes, pos: int, stop: int, budget: int) -> tuple[int, int] | None:
        keys = _run_keys(_MG_LINE, _MG_KEY, data, pos, stop, budget)
        if keys is None:
            return None
        out = self._out
        for v in self.engine.get_values(keys):
            if v is None:
                out.append(EN)
            else:
                if v.__class__ is tuple:
                    v = v[1]  # mg without f sends no client flags
                n = len(v) - 2
                out.append(_VA.get(n) or _va_line(n))
                out.append(v)
        budget = self._spend(budget, len(keys))
        return pos + sum(map(len, keys)) + 7 * len(keys), budget  # "mg " + key + " v\r\n"

    def _get_run(
        self, data: bytes, pos: int, stop: int, budget: int
    ) -> tuple[int, int, int] | None:
        """As _mg_run, for gets; also returns the bytes of large values it queued, and stops
        after the get that takes them past LARGE_STEP."""
        keys = _run_keys(_GET_LINE, _GET_KEY, data, pos, stop, budget)
        if keys is None:
            return None
        get = self.engine.get
        out = self._out
        big = done = 0
        for key in keys:
            done += 1
            r = get(key)
            if r is not None:
                v = r[1]
                n = len(v)
                out += (VALUE_, key, _SFX.get(r[0] << 32 | n) or _value_suffix(r[0], n), v)
                if n > 4096:
                    big += n
                    if big > LARGE_STEP:
                        out.append(END)
                        del keys[done:]
                        break
            out.append(END)
        self._kept = len(out)  # a finished get is sent at once
        budget = self._spend(budget, done)
        return pos + sum(map(len, keys)) + 6 * done, budget, big  # "get " + key + "\r\n"

    def _spend(self, budget: int, lines: int) -> int:
        """The -R units of a run's lines after its first; memcached's conn_yield where the
        budget runs out."""
        if budget > 0 and lines > 1:
            budget -= lines - 1
            if budget == 0:
                self.ctx.conn_yields += 1
        return budget

    def _refilled(self, pos: int) -> int:
        """The buffer emptied exactly (or a block was read past it): memcached flushes, gives
        a grown buffer back and its next read fills a fresh 16 KB one. Returns its end."""
        self._kept = len(self._out)
        self._rsize = READ_BUFFER
        return pos + READ_BUFFER

    def _refill_size(self, partial: int, avail: int) -> int:
        """Bytes the next read leaves in the buffer, `partial` of them carried over.

        Past 2048 bytes without a newline memcached takes a get line for a long multiget:
        the buffer doubles, and each read that fills it doubles it again, four times at most.
        """
        size = self._rsize
        if partial > LINE_GUARD:
            if size == READ_BUFFER:
                size *= 2  # rbuf_switch_to_malloc
            grown = 0
            while size < avail and grown < 4:
                size *= 2
                grown += 1
            self._rsize = size
        return size

    def _barrier(self) -> None:
        """A data block ended with a socket read: memcached flushes what it has queued
        (an over-long get key can no longer drop it) and waits for a new event."""
        self._kept = len(self._out)
        self._refill = True

    def _long_get_ok(self, head: bytes) -> bool:
        stripped = head.lstrip(b" ")
        if len(head) - len(stripped) > 100:
            return False
        return stripped.startswith(b"get ") or stripped.startswith(b"gets ")

    # -- commands ------------------------------------------------------------------------
    def _command(self, line: bytes) -> None:
        if 0 in line:
            line = line[: line.find(b"\0")]  # memcached parses the line with strlen()
        # hot path: single- or multi-key get straight from the line to the engine
        if line[:4] == b"get ":
            keys = [k for k in line[4:].split(b" ") if k]
            if keys:
                self.retrieve(keys, False, None)
                return
        if line[:3] == b"mg ":  # hot path: `mg <key> v` without tokenizing
            meta = self._meta
            if meta is None:
                meta = self._meta = MetaCommands(self)
            if meta.mg_fast(line):
                return
        toks, more = tokenize(line)
        ntok = MAX_TOKENS if more else len(toks) + 1
        if ntok < 2 or len(toks[0]) < 2:
            self._out.append(ERROR)
            return
        cmd = toks[0]
        if len(cmd) == 2 and cmd[0] == 109:  # "m?": the meta commands (meta.py)
            meta = self._meta
            if meta is None:
                meta = self._meta = MetaCommands(self)
            meta.dispatch(toks, ntok)
            return
        rule = _EXACT.get(cmd)
        if rule is not None:
            if ntok not in rule:
                self._out.append(ERROR)
                return
        elif cmd in _RANGE:
            lo, hi = _RANGE[cmd]
            if not lo <= ntok <= hi:
                self._out.append(ERROR)
                return
        elif cmd in _MIN and ntok < _MIN[cmd]:
            self._out.append(ERROR)
            return
        if cmd in STORE_MODES:
            self._storage(cmd, toks)
        elif cmd in (b"get", b"bget", b"gets", b"gat", b"gats"):
            self._get_family(cmd, line)
        else:
            fn = self._dispatch.get(cmd)
            if fn is None:
                if toks[-1].startswith(b"HTTP/"):
                    self.closing = True  # an HTTP client: close without a reply
                else:
                    self._out.append(ERROR)
                return
            try:
                fn(toks, ntok)
            except _Unsupported:
                self._out.append(ERROR)

    def _get_family(self, cmd: bytes, line: bytes) -> None:
        toks = [t for t in line.split(b" ") if t]  # retrieval takes any number of keys
        exptime = None
        keys = toks[1:]
        if cmd in (b"gat", b"gats"):
            exptime = strtol32(toks[1])
            if exptime is None:
                self._out.append(b"CLIENT_ERROR invalid exptime argument\r\n")
                return
            keys = toks[2:]
        self.retrieve(keys, cmd in (b"gets", b"gats"), exptime)

    def _storage(self, cmd: bytes, t: list[bytes]) -> None:
        """set/add/replace/append/prepend/cas: parse, then read or swallow the data block."""
        nr = t[-1] == b"noreply"
        key = t[1]
        if len(key) > KEY_MAX_LENGTH:
            # 1.6.18 does not swallow the data block here: it is parsed as a command
            return self._reply(BAD_FORMAT, nr)
        flags = strtoul32(t[2])
        exptime = strtol32(t[3])
        vlen = strtol32(t[4])
        if flags is None or exptime is None or vlen is None:
            return self._reply(BAD_FORMAT, nr)
        cas = None
        if cmd == b"cas":
            cas = strtoull(t[5])
            if cas is None:
                return self._reply(BAD_FORMAT, nr)
        if vlen < 0 or vlen > INT_MAX - 2:
            return self._reply(BAD_FORMAT, nr)
        mode = STORE_MODES[cmd]
        ctx = self.ctx
        if ctx.detail_enabled:
            ctx.prefix_stats.record(key, ctx.settings.prefix_delimiter.encode(), 2)
        self._storage_two_phase(mode, key, flags, exptime, cas, nr, vlen)

    def _storage_two_phase(
        self, mode: Any, key: bytes, flags: int, exptime: int, cas: int | None, nr: bool, vlen: int
    ) -> None:
        """process_update_command: the item is allocated now (this may evict, or fail and
        swallow the block), then filled as the block arrives and stored once it is through."""
        nbytes = vlen + 2
        data = self._data
        pos = self._pos
        end = pos + vlen
        if (
            len(data) - end >= 2
            and len(key) + (4 if flags else 0) + nbytes <= self._one_chunk
            and data[end : end + 2] == b"\r\n"
        ):
            # hot path: a one-chunk item whose block is here; one allocation either way
            self._pos = end + 2
            self.store(mode, key, flags, exptime, _value(data, pos, end), cas, nr)
            if nbytes > READ_BUFFER:
                self._barrier()  # memcached read the rest of such a block from the socket
            return
        h = self._alloc(mode, key, flags, exptime, nbytes)
        if type(h) is not int:
            name = _name(h)  # TOO_LARGE / NO_MEMORY, counted by the engine
            if self.ctx.watchers.mask & LOG_MUTATIONS:
                self._log_store(mode, key, name, 0, vlen, flags)
            self._skip(nbytes, b"" if nr else STORE_REPLY[name])
            return

        def done(ok: bool) -> None:
            self._complete_held(h, mode, key, flags, exptime, cas, nr, vlen, ok)

        self.read_into(h, nbytes, done, nr)

    def read_into(self, h: int, nbytes: int, done: Callable[[bool], None], nr: bool) -> None:
        """conn_nread into the engine's held item `h`: its `nbytes` (value + CRLF) are written
        as they arrive, then `done(block ended with CRLF)` runs. A data chunk that cannot be
        had frees the item and swallows the rest ("Out of memory during read")."""
        self._held = (h, done, nr)
        self._tail = b""
        self._need = nbytes
        if len(self._data) > self._pos:
            self._feed_held()
            if not self._need and not self._swallow and nbytes > READ_BUFFER:
                self._barrier()  # memcached read the rest of such a block from the socket

    def _feed_held(self) -> None:
        """Write what has arrived of the block (from _data at _pos) into the held item."""
        h, done, nr = self._held  # type: ignore[misc]
        data = self._data
        pos = self._pos
        end = pos + min(self._need, len(data) - pos)
        self._pos = end
        self._need -= end - pos
        self._tail = (self._tail + data[max(pos, end - 2) : end])[-2:]
        engine = self.engine
        if not engine.write_value(h, memoryview(data)[pos:end]):
            # no data chunk: the reply waits for the rest of the block to be swallowed
            self._held = None
            engine.abort_store(h)
            rest, self._need = self._need, 0
            self._skip(rest, b"" if nr else READ_OOM)
            return
        if self._need:
            return
        self._held = None
        done(self._tail == b"\r\n")

    def _complete_held(
        self,
        h: int,
        mode: Any,
        key: bytes,
        flags: int,
        exptime: int,
        cas: int | None,
        nr: bool,
        vlen: int,
        ok: bool,
    ) -> None:
        """complete_nread_ascii for a text storage command's held item."""
        engine = self.engine
        mask = self.ctx.watchers.mask
        if ok and mask & LOG_FETCHERS:
            self._log_get(key)  # do_store_item looks the old item up first
        res = engine.complete_store(h, mode, cas, ok)
        if res is None:
            self._reply(BAD_CHUNK, nr)
            return
        name = _name(res)
        self._reply(STORE_REPLY[name], nr)
        if mask & LOG_MUTATIONS:
            self._log_store(mode, key, name, exptime, vlen, flags)

    def connection_lost(self) -> None:
        """The client went away: an item still being read is freed, never stored."""
        held, self._held = self._held, None
        if held is not None:
            self.engine.abort_store(held[0])

    def read_block(self, nbytes: int, then: Callable[[bytes], None]) -> None:
        """Hand the next `nbytes` (data + CRLF) to `then`, now or once they arrive."""
        data = self._data
        pos = self._pos
        if len(data) - pos >= nbytes:
            self._pos = pos + nbytes
            then(data[pos : pos + nbytes])
        else:
            self._pending_meta = then
            self._need = nbytes

    def _skip(self, n: int, reply: bytes = b"") -> None:
        """Discard `n` bytes; `reply` goes out once they are through, as memcached sends its
        error only after the swallow (and never if the client leaves first)."""
        avail = len(self._data) - self._pos
        take = min(n, avail)
        self._pos += take
        self._swallow = n - take
        if self._swallow:
            self._deferred += reply
            return
        if reply:
            self._out.append(reply)
        if n > READ_BUFFER:
            self._barrier()

    def _swallowed(self) -> None:
        """The swallowed block ended with a read: memcached flushes what it has queued."""
        if self._deferred:
            self._out.append(self._deferred)
            self._deferred = b""
        self._barrier()

    def _finish_store(self, block: bytes) -> None:
        """A block awaited by `read_block` has arrived whole."""
        then, self._pending_meta = self._pending_meta, None
        then(block)  # type: ignore[misc]


__all__ = ["StoreMode", "TextProtocol", "tokenize"]
