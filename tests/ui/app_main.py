"""The app as NiceGUI's `user` fixture runs it (settings from the environment the test sets)."""

from nicegui import ui

from mlv.app import setup_ui
from mlv.config import load_settings, set_settings

settings = load_settings()
set_settings(settings)
setup_ui(settings)
ui.run(storage_secret="test-secret", reload=False, show=False, title=settings.app_title)
