"""HubSpot: the `CRMPort` over the CRM v3 objects API (contacts, deals, notes)."""

from .adapter import HUBSPOT_BASE_URL, HUBSPOT_OBJECTS_PATH, HubSpotCRM
from .errors import parse_hubspot_error


__all__ = ["HUBSPOT_BASE_URL", "HUBSPOT_OBJECTS_PATH", "HubSpotCRM", "parse_hubspot_error"]
