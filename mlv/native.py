"""`mlv serve --native`: can this machine open a native window (pywebview + a web engine)?

pywebview draws the window with GTK + WebKit2GTK (Linux, through PyGObject) or Qt + QtWebEngine;
when neither can be loaded, the app stops with a hint naming the packages to add, instead of a
stack trace from the window process.
"""

from __future__ import annotations

import importlib
import os
import sys

HINT = """mlv: --native needs pywebview and a web engine it can drive{why}.
  pip:            pip install 'mlv[native]'            (pywebview)
  Debian/Ubuntu:  apt install python3-gi python3-gi-cairo gir1.2-gtk-3.0 gir1.2-webkit2-4.1
                  (in a virtualenv: create it with --system-site-packages, or pip install PyGObject)
  or Qt instead:  pip install 'pywebview[qt]'
  and a display:  run it in a desktop session (DISPLAY or WAYLAND_DISPLAY set), e.g. under Xvfb for tests.
Without --native, `mlv serve` serves the same app to your browser."""


def _gtk_ok() -> str | None:
    try:
        gi = importlib.import_module("gi")
        gi.require_version("Gtk", "3.0")
        try:
            gi.require_version("WebKit2", "4.1")
        except ValueError:
            gi.require_version("WebKit2", "4.0")
        importlib.import_module("gi.repository.Gtk")
        importlib.import_module("gi.repository.WebKit2")
    except (ImportError, ValueError, AttributeError) as exc:
        return f"GTK/WebKit2GTK: {exc}"
    return None


def _qt_ok() -> str | None:
    for module in ("PyQt6.QtWebEngineWidgets", "PyQt5.QtWebEngineWidgets", "PySide6.QtWebEngineWidgets"):
        try:
            importlib.import_module(module)
            return None
        except ImportError:
            continue
    return "Qt: no QtWebEngine binding"


def native_problem() -> str | None:
    """None when a native window can be opened; otherwise the hint (which packages to add)."""
    try:
        importlib.import_module("webview")
    except ImportError as exc:
        return HINT.format(why=f" (pywebview is not installed: {exc})")
    if sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return HINT.format(why=" (no display: DISPLAY and WAYLAND_DISPLAY are unset)")
        gtk, qt = _gtk_ok(), _qt_ok()
        if gtk and qt:
            return HINT.format(why=f" (neither engine loads: {gtk}; {qt})")
    return None
