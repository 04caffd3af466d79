"""The seed's reproduction script for the zero-hash eviction bug, run as written.

First document in shared/seeds/ (lines 25-39): five keys whose jenkins hash is 0
are set with exptime 1, the script sleeps 2 s, sets an innocent key, and reads
`stats items`. A correct server reclaims the five expired items when the
innocent set pulls the LRU tail: one item left, five reclaimed. The buggy
1.4.19-1.4.28 left all six. The script really sleeps 2 s: it is the documented one.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers.wire import parse_stats

ZERO_HASH_KEYS = [
    "0wYuLiaUdfgTZCUsz8mRR1WJVk",
    "9NxjWkBnSfD0LShqUBZAqv3jKI",
    "wRL2lvUMyPnbiImZdi9CTXbsJ6",
    "vOgpzFNo2pGpYLKxUWXfI6PDXq",
    "aTogASrWNRQSA1uh2ySgv6HwaU",
]

# The seed's script, with `nc localhost 11211` made explicit for netcat-openbsd:
# -q1 quits one second after stdin ends, as a person typing the script would see it.
# That second matters on 1.6.18: its LRU maintainer thread (not the set itself)
# reclaims expired items from the COLD tail, and it wakes at least once a second.
SCRIPT = """
set -e
NC="nc -q1 127.0.0.1 {port}"
# set the items whose jenkins hash(ENDIAN_LITTLE) values are zero with exptime 1 sec
printf "set 0wYuLiaUdfgTZCUsz8mRR1WJVk 0 1 4\\r\\ndata\\r\\n" | $NC
printf "set 9NxjWkBnSfD0LShqUBZAqv3jKI 0 1 4\\r\\ndata\\r\\n" | $NC
printf "set wRL2lvUMyPnbiImZdi9CTXbsJ6 0 1 4\\r\\ndata\\r\\n" | $NC
printf "set vOgpzFNo2pGpYLKxUWXfI6PDXq 0 1 4\\r\\ndata\\r\\n" | $NC
printf "set aTogASrWNRQSA1uh2ySgv6HwaU 0 1 4\\r\\ndata\\r\\n" | $NC

# wait for exptime
sleep 2

# another innocent key set
# normally, the five items expire here
printf "set innocentkey 0 1 4\\r\\ndata\\r\\n" | $NC

echo "stats items" | $NC
"""


def run_script(port: int) -> str:
    done = subprocess.run(
        ["bash", "-c", SCRIPT.format(port=port)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout.decode()


def test_script_keys_are_the_ones_in_the_seed() -> None:
    for key in ZERO_HASH_KEYS:
        assert f'printf "set {key} 0 1 4' in SCRIPT


@pytest.mark.parametrize("kind", ["memcached", "slabcache"])
def test_seed_script_reclaims_zero_hash_items(server_factory, kind: str) -> None:
    server = server_factory(kind, "-o", "hash_algorithm=jenkins")
    out = run_script(server.port)
    assert out.startswith("STORED\r\n" * 6), out
    lines = out.splitlines()
    assert "STAT items:1:number 1" in lines, out
    assert "STAT items:1:reclaimed 5" in lines, out
    stats = parse_stats(out.encode().split(b"STORED\r\n" * 6, 1)[1])
    assert stats["items:1:number"] == "1"
    assert stats["items:1:reclaimed"] == "5"
    assert server.alive()
