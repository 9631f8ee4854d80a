"""HubSpot: the `CRMPort` over the CRM v3 objects API (contacts, deals, notes)."""

from .adapter import BASE_URL, OBJECTS_PATH, HubSpotCRM
from .errors import parse_hubspot_error
from .stages import DEFAULT_DEAL_STAGES, DEFAULT_LIFECYCLE_STAGES, HubSpotStages


__all__ = [
    "BASE_URL",
    "DEFAULT_DEAL_STAGES",
    "DEFAULT_LIFECYCLE_STAGES",
    "OBJECTS_PATH",
    "HubSpotCRM",
    "HubSpotStages",
    "parse_hubspot_error",
]
