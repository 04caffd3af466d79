"""`python -m slabcache` is the `slabcache` command."""

import sys

from slabcache.cli import main

if __name__ == "__main__":
    sys.exit(main())
