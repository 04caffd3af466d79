"""Replay a differential stream one request at a time and list every difference.

The differential tests stop at the first differing byte; this names each request
whose reply differs, for bug reports:

    .venv/bin/python -m tests.helpers.diffrun full 11
    .venv/bin/python -m tests.helpers.diffrun model 303 -- -o no_lru_maintainer,no_lru_crawler
"""

from __future__ import annotations

import argparse
import sys

from tests.helpers import streams
from tests.helpers.normalize import mask
from tests.helpers.servers import start_server
from tests.helpers.wire import read_until

PROBE = b"version\r\n"


def lockstep(kinds: list[str], requests: list[bytes], flags: list[str]) -> list[list[bytes]]:
    servers = [start_server(kind, flags) for kind in kinds]
    try:
        per_server = []
        for server in servers:
            sock = server.connect(timeout=10)
            replies = []
            for req in requests:
                # The version probe ends each reply; a request left waiting for data
                # swallows it, and the short timeout moves on.
                sock.sendall(req + PROBE)
                out, closed = read_until(sock, b"\r\n", timeout=2.0)
                while not closed and b"VERSION " not in out.rsplit(b"\r\n", 2)[-2]:
                    more, closed = read_until(sock, b"\r\n", timeout=2.0)
                    if not more:
                        break
                    out += more
                replies.append(out)
                if closed:
                    break
            sock.close()
            per_server.append(replies)
        return per_server
    finally:
        for server in servers:
            server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["full", "model"])
    parser.add_argument("seed", type=int)
    parser.add_argument("--length", type=int, default=None)
    parser.add_argument("flags", nargs="*")
    args = parser.parse_args(argv)
    make = streams.full_stream if args.kind == "full" else streams.model_stream
    requests = make(args.seed) if args.length is None else make(args.seed, args.length)
    ref, got = lockstep(["memcached", "slabcache"], requests, args.flags)
    differ = 0
    for i, req in enumerate(requests):
        r = mask(ref[i], reclaim_timing=args.kind == "full") if i < len(ref) else b"<closed>"
        g = mask(got[i], reclaim_timing=args.kind == "full") if i < len(got) else b"<closed>"
        if r != g:
            differ += 1
            print(f"#{i} {req[:120]!r}")
            rl, gl = r.split(b"\r\n"), g.split(b"\r\n")
            if len(rl) == len(gl) and len(rl) > 3:  # same shape: show the differing lines
                r = b" | ".join(a for a, b in zip(rl, gl, strict=True) if a != b)
                g = b" | ".join(b for a, b in zip(rl, gl, strict=True) if a != b)
            print(f"  memcached: {r[:400]!r}\n  slabcache: {g[:400]!r}")
    print(f"{differ} of {len(requests)} requests differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
