"""`python main.py` is `mlv serve` (port 8080)."""

import sys

from mlv.cli import main

if __name__ in {"__main__", "__mp_main__"}:
    sys.exit(main(["serve", *sys.argv[1:]]))
