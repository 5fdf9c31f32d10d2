"""``mlv emulator``: run a live fake mailcow until Ctrl-C."""

from __future__ import annotations

import time

from .emulator import Emulator, start_emulator_thread


def run(host: str = "127.0.0.1", port: int = 18080, seed: int = 1, rate: float = 6.0,
        api_key: str | None = None, backfill_seconds: float = 7200) -> None:
    """Serve a live emulator (simulated time = wall clock, 2 h of history) and block until Ctrl-C."""
    em = Emulator(seed=seed, rate=rate, api_key=api_key, backfill_seconds=backfill_seconds, live=True)
    handle = start_emulator_thread(em, host=host, port=port)
    print(f"mailcow emulator listening on {handle.url}  (seed {seed}, {rate:g} messages/minute)", flush=True)
    print(f"API key: {em.api_key}", flush=True)
    print(f"try: curl -H 'X-API-Key: {em.api_key}' {handle.url}/api/v1/get/logs/postfix/10", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        handle.stop()
