"""`python main.py` is `mlv serve` (port 8080)."""

import sys

from mlv.cli import main

# Only as the script itself: the native window's process (multiprocessing spawn) imports this
# module again as "__mp_main__" and must not start a second server or exit early.
if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
