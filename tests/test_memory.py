"""The allocator settings of the long-running process (mlv.memory) take on glibc and step aside
when the environment already decides."""

from __future__ import annotations

import subprocess
import sys

from mlv import memory


def test_arena_limit_is_set_unless_the_environment_says(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert memory._glibc() is not None  # Debian: glibc
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert memory.limit_arenas() is True


def test_threads_share_two_arenas_once_limited() -> None:
    """Eight threads allocating at once: without the limit glibc makes an arena for most of them."""
    script = """
import ctypes, sys, threading
from mlv import memory
if sys.argv[1] == "limit":
    assert memory.limit_arenas(2)
go = threading.Barrier(8)
def work():
    go.wait()
    keep = [bytearray(256) for _ in range(20000)]
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
libc = ctypes.CDLL("libc.so.6")
libc.open_memstream.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
size = ctypes.c_size_t(); buf = ctypes.c_char_p()
f = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
libc.malloc_info(0, f); libc.fclose(f)
print(buf.value.decode().count("<heap nr="))
"""
    def arenas(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "."})
        return int(out.stdout.strip())

    assert arenas("limit") <= 2 < arenas("free")
