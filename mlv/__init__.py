"""mlv: a self-hosted viewer and monitor for mailcow mail servers."""

__version__ = "0.1.0"
