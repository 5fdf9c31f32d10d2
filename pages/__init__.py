"""NiceGUI pages, one module per page; importing this package registers them."""

from pages import dashboard  # noqa: F401
