"""SQLModel tables, one module per subject. Importing this package registers them all."""

from mlv.models.logs import DovecotLog, NetfilterLog, PostfixLog, RspamdLog
from mlv.models.messages import Delivery, Message, MessageQueue
from mlv.models.state import ImportGap, IngestState, MailcowObject

__all__ = [
    "Delivery", "DovecotLog", "ImportGap", "IngestState", "MailcowObject", "Message", "MessageQueue",
    "NetfilterLog", "PostfixLog", "RspamdLog",
]
