"""
The domain's CRM stages <-> HubSpot's internal values, per portal.

Lifecycle stages (the ``lifecyclestage`` contact property) have fixed internal names in every
portal: ``subscriber``, ``lead``, ``marketingqualifiedlead``, ``salesqualifiedlead``,
``opportunity``, ``customer``, ``evangelist``, ``other``. A portal may add custom stages (their
internal values are numbers): map a domain stage onto one to use it. A value with no mapping
reads as `LifecycleStage.OTHER`, in a CRM answer and in a webhook alike, never as an error.

Deal stages (``dealstage``) belong to a pipeline, and pipelines are the portal's own: the default
pipeline's stage ids are words (``appointmentscheduled``, ``qualifiedtobuy``,
``presentationscheduled``, ``decisionmakerboughtin``, ``contractsent``, ``closedwon``,
``closedlost``), every other pipeline's are numbers (Settings > Objects > Deals > Pipelines, or
``GET /crm/v3/pipelines/deals``). `DealStage.OPEN` is where new deals go; a stage id with no
mapping reads as ``OPEN``, since a HubSpot deal is closed only in its won and lost stages.

Configuration (``hubspot.deal_stages`` / ``hubspot.lifecycle_stages``, keyed by the domain value,
e.g. ``PORTICO_HUBSPOT__DEAL_STAGES__WON=1234567``) overrides the defaults one stage at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from ...domain.crm import DealStage, LifecycleStage
from ...domain.errors import InvalidValue


__all__ = ["DEFAULT_DEAL_STAGES", "DEFAULT_LIFECYCLE_STAGES", "HubSpotStages"]

E = TypeVar("E", bound=enum.Enum)

DEFAULT_LIFECYCLE_STAGES: Mapping[LifecycleStage, str] = MappingProxyType(
    {
        LifecycleStage.SUBSCRIBER: "subscriber",
        LifecycleStage.LEAD: "lead",
        LifecycleStage.MARKETING_QUALIFIED: "marketingqualifiedlead",
        LifecycleStage.SALES_QUALIFIED: "salesqualifiedlead",
        LifecycleStage.OPPORTUNITY: "opportunity",
        LifecycleStage.CUSTOMER: "customer",
        LifecycleStage.ADVOCATE: "evangelist",
        LifecycleStage.OTHER: "other",
    }
)
"""HubSpot's fixed internal names of its default lifecycle stages."""

DEFAULT_DEAL_STAGES: Mapping[DealStage, str] = MappingProxyType(
    {
        DealStage.OPEN: "appointmentscheduled",
        DealStage.WON: "closedwon",
        DealStage.LOST: "closedlost",
    }
)
"""The stage ids of HubSpot's default sales pipeline (``pipeline=default``)."""


def _lifecycle_stages(given: Mapping[LifecycleStage, str]) -> Mapping[LifecycleStage, str]:
    return MappingProxyType({**DEFAULT_LIFECYCLE_STAGES, **given})


def _deal_stages(given: Mapping[DealStage, str]) -> Mapping[DealStage, str]:
    return MappingProxyType({**DEFAULT_DEAL_STAGES, **given})


def _one_to_one(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[Any, str]
) -> None:
    """Every value is a usable HubSpot value, and no two stages share one (reads must be exact)."""
    field = f"hubspot.{attribute.name}"
    for stage, vendor in value.items():
        if not vendor.strip() or len(vendor) > 100:
            raise InvalidValue(f"{field}.{stage.value}", "must be a HubSpot internal value")
    if len(set(value.values())) != len(value):
        raise InvalidValue(field, "two stages map to the same HubSpot value")


@attrs.frozen
class HubSpotStages:
    """
    How one portal spells the domain's stages.

    Args:
        lifecycle_stages: domain lifecycle stage -> ``lifecyclestage`` internal value; stages
            left out keep `DEFAULT_LIFECYCLE_STAGES`.
        deal_stages: domain deal stage -> ``dealstage`` id in the pipeline the deals live in; stages
            left out keep `DEFAULT_DEAL_STAGES` (the default pipeline's).

    Raises:
        InvalidValue: a value is blank, or two stages share one.
    """

    lifecycle_stages: Mapping[LifecycleStage, str] = attrs.field(
        factory=dict,
        converter=_lifecycle_stages,
        validator=_one_to_one,
    )
    deal_stages: Mapping[DealStage, str] = attrs.field(
        factory=dict,
        converter=_deal_stages,
        validator=_one_to_one,
    )
    _lifecycle_read: Mapping[str, LifecycleStage] = attrs.field(init=False, repr=False, eq=False)
    _deals_read: Mapping[str, DealStage] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "_lifecycle_read", {v: k for k, v in self.lifecycle_stages.items()}
        )
        object.__setattr__(self, "_deals_read", {v: k for k, v in self.deal_stages.items()})

    @classmethod
    def from_config(
        cls,
        *,
        lifecycle_stages: Mapping[str, Any] | None = None,
        deal_stages: Mapping[str, Any] | None = None,
    ) -> HubSpotStages:
        """
        Overrides keyed by the domain's values (``{"won": "1234567"}``), as configuration has them.

        Raises:
            InvalidValue: a key is not a domain stage (naming it), or a value is unusable.
        """
        return cls(
            lifecycle_stages=_by_domain_value(
                LifecycleStage, lifecycle_stages or {}, "lifecycle_stages"
            ),
            deal_stages=_by_domain_value(DealStage, deal_stages or {}, "deal_stages"),
        )

    def lifecycle_value(self, stage: LifecycleStage) -> str:
        """The ``lifecyclestage`` value to write for ``stage``."""
        return self.lifecycle_stages[stage]

    def lifecycle_stage(self, value: str) -> LifecycleStage:
        """The domain stage of a ``lifecyclestage`` value; one with no mapping is ``OTHER``."""
        return self._lifecycle_read.get(value, LifecycleStage.OTHER)

    def deal_stage_id(self, stage: DealStage) -> str:
        """The ``dealstage`` id to write for ``stage``."""
        return self.deal_stages[stage]

    def deal_stage(self, stage_id: str) -> DealStage:
        """The domain stage of a ``dealstage`` id; one with no mapping is ``OPEN``."""
        return self._deals_read.get(stage_id, DealStage.OPEN)


def _by_domain_value(kind: type[E], given: Mapping[str, Any], field: str) -> dict[E, str]:
    known = {member.value: member for member in kind}
    mapped: dict[E, str] = {}
    for key, value in given.items():
        member = known.get(str(key).strip().lower())
        if member is None:
            names = ", ".join(known)
            raise InvalidValue(f"hubspot.{field}.{key}", f"is not a stage (one of {names})")
        mapped[member] = str(value).strip() if value is not None else ""
    return mapped
