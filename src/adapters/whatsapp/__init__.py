"""The WhatsApp Cloud API adapter (Meta directly, or through 360dialog)."""

from .adapter import WhatsAppMessaging, message_payload
from .errors import parse_meta_error
from .flavours import DEFAULT_GRAPH_VERSION, DIALOG360, WhatsAppFlavour, meta_cloud
from .status_log import DeliveryStatusLog, MemoryDeliveryStatusStore


__all__ = [
    "DEFAULT_GRAPH_VERSION",
    "DIALOG360",
    "DeliveryStatusLog",
    "MemoryDeliveryStatusStore",
    "WhatsAppFlavour",
    "WhatsAppMessaging",
    "message_payload",
    "meta_cloud",
    "parse_meta_error",
]
