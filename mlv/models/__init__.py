"""SQLModel tables, one module per subject. Importing this package registers them all."""

import mlv.models.dmarc  # the DMARC and TLS-RPT tables
import mlv.models.dns  # noqa: F401  (domain DNS check cache)
from mlv.models.logs import DovecotLog, NetfilterLog, PostfixLog, RspamdLog
from mlv.models.messages import Delivery, Message, MessageQueue
from mlv.models.rollups import (
    AddressDaily,
    MessageHourly,
    NetfilterHourly,
    PostfixHourly,
    RspamdHourly,
    SpamSymbolDaily,
)
from mlv.models.state import ImportGap, IngestState, MailcowObject

__all__ = [
    "AddressDaily", "Delivery", "DovecotLog", "ImportGap", "IngestState", "MailcowObject", "Message", "MessageHourly",
    "MessageQueue", "NetfilterHourly", "NetfilterLog", "PostfixHourly", "PostfixLog", "RspamdHourly", "RspamdLog",
    "SpamSymbolDaily",
]
