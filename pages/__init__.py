"""NiceGUI pages, one module per page; importing this package registers them."""

from pages import dashboard, dmarc, domains, login, logs, mailboxes, messages, queue, settings, status  # noqa: F401
