"""HubSpotStages: the domain's stages <-> one portal's HubSpot values, and their configuration."""

from __future__ import annotations

from typing import Any

import pytest
from tests.simulators.hubspot import DEFAULT_STAGES, LIFECYCLE_STAGES

from portico.adapters.hubspot import DEFAULT_DEAL_STAGES, DEFAULT_LIFECYCLE_STAGES, HubSpotStages
from portico.app.wiring.settings import load_settings
from portico.domain.crm import DealStage, LifecycleStage
from portico.domain.errors import ConfigurationError, InvalidValue


def hubspot_stages(config: dict[str, Any]) -> HubSpotStages:
    """The stages a sandbox container's HubSpot settings give, from ``config``'s hubspot section."""
    section = {"token": "pat-test", **config.get("hubspot", {})}
    settings = load_settings({"environment": "sandbox", "hubspot": section}, env={})
    hubspot = settings.vendors["hubspot"]
    assert hasattr(hubspot, "stages")
    stages: HubSpotStages = hubspot.stages()
    return stages


def test_the_defaults_are_hubspots_own_values() -> None:
    """Every domain stage has a default, and each default is a value a new portal accepts."""
    assert set(DEFAULT_LIFECYCLE_STAGES) == set(LifecycleStage)
    assert set(DEFAULT_DEAL_STAGES) == set(DealStage)
    assert set(DEFAULT_LIFECYCLE_STAGES.values()) == LIFECYCLE_STAGES
    assert set(DEFAULT_DEAL_STAGES.values()) <= DEFAULT_STAGES


@pytest.mark.parametrize("stage", list(LifecycleStage))
def test_lifecycle_stages_round_trip(stage: LifecycleStage) -> None:
    """Writing a stage and reading its value back gives the same stage."""
    stages = HubSpotStages()
    assert stages.lifecycle_stage(stages.lifecycle_value(stage)) is stage


@pytest.mark.parametrize("stage", list(DealStage))
def test_deal_stages_round_trip(stage: DealStage) -> None:
    """Writing a deal stage and reading its id back gives the same stage."""
    stages = HubSpotStages()
    assert stages.deal_stage(stages.deal_stage_id(stage)) is stage


def test_values_without_a_mapping_have_a_documented_reading() -> None:
    """An unmapped lifecycle value is OTHER; an unmapped deal stage id is an open deal."""
    stages = HubSpotStages()
    assert stages.lifecycle_stage("1234567") is LifecycleStage.OTHER
    assert stages.deal_stage("qualifiedtobuy") is DealStage.OPEN
    assert stages.deal_stage("98765") is DealStage.OPEN


def test_overrides_replace_one_stage_and_keep_the_rest() -> None:
    """A custom pipeline's ids override the defaults stage by stage."""
    stages = HubSpotStages(deal_stages={DealStage.OPEN: "111", DealStage.WON: "222"})
    assert [stages.deal_stage_id(s) for s in DealStage] == ["111", "222", "closedlost"]
    assert stages.deal_stage("appointmentscheduled") is DealStage.OPEN  # unmapped now: open
    assert stages.deal_stage("222") is DealStage.WON


@pytest.mark.parametrize(
    "overrides",
    [
        {"deal_stages": {DealStage.WON: "closedlost"}},
        {"lifecycle_stages": {LifecycleStage.LEAD: "customer"}},
        {"deal_stages": {DealStage.WON: " "}},
    ],
    ids=["two-deal-stages-share", "two-lifecycle-stages-share", "blank"],
)
def test_an_ambiguous_or_blank_mapping_is_refused(overrides: dict[str, Any]) -> None:
    """Reads must be exact: two stages never share a value, and no value is blank."""
    with pytest.raises(InvalidValue, match="hubspot"):
        HubSpotStages(**overrides)


def test_configuration_is_keyed_by_the_domains_values() -> None:
    """hubspot.deal_stages / lifecycle_stages take the domain's names, as YAML or variables do."""
    config = {
        "hubspot": {
            "deal_stages": {"won": "1234567", "LOST": "7654321"},
            "lifecycle_stages": {"advocate": "998877"},
        }
    }
    stages = hubspot_stages(config)
    assert stages.deal_stage_id(DealStage.WON) == "1234567"
    assert stages.deal_stage_id(DealStage.LOST) == "7654321"
    assert stages.lifecycle_value(LifecycleStage.ADVOCATE) == "998877"
    assert hubspot_stages({}) == HubSpotStages()


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"hubspot": {"deal_stages": {"closedwon": "1"}}}, r"hubspot\.deal_stages\.closedwon"),
        ({"hubspot": {"deal_stages": "won=1"}}, r"hubspot\.deal_stages: must be a mapping"),
        ({"hubspot": {"lifecycle_stages": {"lead": None}}}, r"hubspot\.lifecycle_stages\.lead"),
    ],
)
def test_bad_stage_configuration_fails_naming_the_setting(
    config: dict[str, Any], names: str
) -> None:
    """A key that is no domain stage, or an unusable value, is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match=names):
        hubspot_stages(config)
