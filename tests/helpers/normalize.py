"""Mask the reply fields that must differ between two server processes.

Each masked field is named here with the reason it legitimately differs; every
other byte of every reply is compared as is.
"""

from __future__ import annotations

import re

# Differ between any two processes: identity, clocks, OS resources, connections.
PROCESS_FIELDS = {
    "pid", "uptime", "time", "version", "libevent", "pointer_size",
    "rusage_user", "rusage_system",
    "max_connections", "curr_connections", "total_connections", "rejected_connections",
    "connection_structures", "reserved_fds", "threads", "conn_yields",
    "listen_disabled_num", "time_in_listen_disabled_us",
    # Buffers and byte counts depend on how the kernel split reads and how long the
    # masked fields above printed.
    "bytes_read", "bytes_written", "read_buf_count", "read_buf_bytes",
    "read_buf_bytes_free", "read_buf_oom", "response_obj_oom", "response_obj_count",
    "response_obj_bytes", "round_robin_fallback", "unexpected_napi_ids", "malloc_fails",
    # Background threads' own progress counters.
    "lru_crawler_starts", "lru_maintainer_juggles", "lru_bumps_dropped",
    "log_worker_dropped", "log_worker_written", "log_watcher_skipped",
    "log_watcher_sent", "log_watchers",
    # stats settings: the two servers listen on different ports / sockets; "oldest"
    # is flush_all's moment on each server's own relative clock.
    "tcpport", "domain_socket", "oldest",
}  # fmt: skip

# Moved by memcached's LRU maintainer thread on its own schedule (HOT->WARM/COLD,
# tail reflocks): per-segment counts and ages, never the totals.
LRU_TIMING_FIELDS = {
    "number_hot", "number_warm", "number_cold", "age_hot", "age_warm", "age",
    "moves_to_cold", "moves_to_warm", "moves_within_lru", "lrutail_reflocked",
    "hits_to_hot", "hits_to_warm", "hits_to_cold", "hits_to_temp", "evicted_time",
    "lru_crawler_running",
}  # fmt: skip

# Expired or flushed items are reclaimed by the maintainer and the LRU crawler
# whenever they get to them, so the counts they affect depend on timing, in
# memcached itself, once a stream expires or flushes anything.
RECLAIM_FIELDS = {
    "curr_items", "bytes", "number", "mem_requested", "reclaimed", "expired_unfetched",
    "crawler_reclaimed", "crawler_items_checked", "get_expired", "get_flushed",
    "used_chunks", "free_chunks", "free_chunks_end", "total_chunks", "total_pages",
    "active_slabs", "total_malloced", "slab_global_page_pool", "direct_reclaims",
    # The slab automover (on by default) moves pages on its own clock, relinking the
    # items it rescues (total_items counts links).
    "total_items", "slab_reassign_rescues", "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem", "slab_reassign_inline_reclaim",
    "slab_reassign_busy_items", "slab_reassign_busy_deletes", "slab_reassign_running",
    "slabs_moved",
}  # fmt: skip

STAT_LINE = re.compile(rb"STAT ((?:items:)?(?:\d+:)?)([A-Za-z_]+) ([^\r\n]*)\r\n")
VERSION_LINE = re.compile(rb"^VERSION [^\r\n]*\r\n", re.M)


def masked_fields(*, reclaim_timing: bool) -> set[str]:
    """Names (without any items:N: / N: prefix) whose values are not compared."""
    masked = PROCESS_FIELDS | LRU_TIMING_FIELDS
    return masked | RECLAIM_FIELDS if reclaim_timing else masked


def mask(reply: bytes, *, reclaim_timing: bool) -> bytes:
    """`reply` with the named fields' values replaced by `*`."""
    masked = masked_fields(reclaim_timing=reclaim_timing)

    def sub(m: re.Match[bytes]) -> bytes:
        if m.group(2).decode() in masked:
            return b"STAT " + m.group(1) + m.group(2) + b" *\r\n"
        return m.group(0)

    reply = STAT_LINE.sub(sub, reply)
    # The version string names the server; its presence and framing still count.
    return VERSION_LINE.sub(b"VERSION *\r\n", reply)


def line_diff(ref: bytes, got: bytes) -> str:
    """The lines that differ between two replies of the same shape, else both replies."""
    rl, gl = ref.split(b"\r\n"), got.split(b"\r\n")
    if len(rl) != len(gl):
        return f"memcached {ref[:600]!r} vs slabcache {got[:600]!r}"
    pairs = [(a, b) for a, b in zip(rl, gl, strict=True) if a != b]
    return "; ".join(f"memcached {a!r} vs slabcache {b!r}" for a, b in pairs)
