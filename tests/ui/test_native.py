"""`mlv serve --native`: a real pywebview window under Xvfb showing the dashboard, and the hint
the app prints when the window cannot be opened."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port
from tests.ui.data import DemoServer

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_GI = Path("/usr/lib/python3/dist-packages/gi")
WEBKIT_TYPELIB = Path("/usr/lib/x86_64-linux-gnu/girepository-1.0/WebKit2-4.1.typelib")
HEADER_RGB = (0x1D, 0x4E, 0xD8)  # the frame's header colour (components.frame.PRIMARY)
SHOT = """
import sys
import gi
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
root = Gdk.get_default_root_window()
shot = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())
shot.savev(sys.argv[1], "png", [], [])
pixels, stride, n = shot.get_pixels(), shot.get_rowstride(), shot.get_n_channels()
want = tuple(int(v) for v in sys.argv[2].split(","))
hits = sum(1 for y in range(0, 200, 4) for x in range(0, root.get_width(), 8)
           if tuple(pixels[y * stride + x * n: y * stride + x * n + 3]) == want)
print(hits)
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILCOW_", "AUTH_", "DATABASE_URL", "PYTEST", "NICEGUI", "PYTHONPATH"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1", **extra})
    return env


def _fake_module(tmp_path: Path, name: str) -> Path:
    """A folder shadowing `name` with a module that cannot be imported (as on a machine without it)."""
    folder = tmp_path / f"no-{name}"
    (folder / name).mkdir(parents=True)
    message = f"No module named '{name}'"
    (folder / name / "__init__.py").write_text(f"raise ModuleNotFoundError({message!r}, name={name!r})\n")
    return folder


@pytest.mark.parametrize(("missing", "expected"), [("webview", "pywebview is not installed"),
                                                   ("gi", "neither engine loads")])
def test_missing_engine_prints_which_packages_to_add(tmp_path: Path, missing: str, expected: str) -> None:
    pytest.importorskip("webview") if missing == "gi" else None
    env = _env(tmp_path, PYTHONPATH=str(_fake_module(tmp_path, missing)), DISPLAY=":99")
    proc = subprocess.run([sys.executable, "main.py", "--native", "--port", str(free_port())], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    for package in ("gir1.2-webkit2-4.1", "python3-gi", "mlv[native]"):
        assert package in proc.stderr
    assert "Traceback" not in proc.stderr


def test_setting_opens_native_mode_too(tmp_path: Path) -> None:
    env = _env(tmp_path, NATIVE_WINDOW="true", PYTHONPATH=str(_fake_module(tmp_path, "webview")))
    proc = subprocess.run([sys.executable, "main.py", "--port", str(free_port())], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "pywebview is not installed" in proc.stderr


@pytest.mark.skipif(not (shutil.which("Xvfb") and SYSTEM_GI.exists() and WEBKIT_TYPELIB.exists()),
                    reason="needs xvfb, python3-gi and gir1.2-webkit2-4.1 (apt)")
def test_native_window_shows_the_dashboard(tmp_path: Path, demo: DemoServer, artifacts: Path) -> None:
    pytest.importorskip("webview")
    display = f":{free_port() % 400 + 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gi_path = tmp_path / "gi-path"  # Debian's PyGObject, for this Python (which is not Debian's)
    gi_path.mkdir()
    (gi_path / "gi").symlink_to(SYSTEM_GI)
    (tmp_path / "data").mkdir()
    shutil.copy(demo.db_path, tmp_path / "data" / "mlv.db")
    port = free_port()
    env = _env(tmp_path, DISPLAY=display, PYTHONPATH=str(gi_path), AUTH_ENABLED="false", MAILCOW_URL=demo.url,
               MAILCOW_API_KEY=demo.api_key, NATIVE_WINDOW_SIZE="1200x800", SCHEDULER_ENABLED="false",
               WEBKIT_DISABLE_COMPOSITING_MODE="1")
    log_path = tmp_path / "native.log"
    with open(log_path, "wb") as log:  # a file, not a pipe: the window process inherits it
        app = subprocess.Popen([sys.executable, "main.py", "--native", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    shot = artifacts / "native-window.png"
    try:
        deadline = time.monotonic() + 60
        hits = 0
        while time.monotonic() < deadline and hits < 20:
            assert app.poll() is None, log_path.read_text(errors="replace")[-3000:]
            time.sleep(1)
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
            except httpx.HTTPError:
                continue
            out = subprocess.run(["/usr/bin/python3", "-c", SHOT, str(shot), ",".join(map(str, HEADER_RGB))],
                                 env={**env, "PYTHONPATH": ""}, capture_output=True, text=True, timeout=30)
            hits = int(out.stdout.strip() or 0)
        assert hits >= 20, "the native window never showed the dashboard's header (see native-window.png)"
        running_log = log_path.read_text(errors="replace")
        assert "Traceback" not in running_log, running_log[-3000:]
    finally:
        app.terminate()
        try:
            app.wait(20)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(10)
        try:
            os.killpg(app.pid, signal.SIGKILL)  # a window process left behind
        except ProcessLookupError:
            pass
        xvfb.terminate()
        xvfb.wait(10)
