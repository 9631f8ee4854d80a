"""The ports are keyed once, by the names commands use; `execute` routes by that key."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given

from portico.adapters.fakes import FakeCRM, FakeEmail, FakeMessaging, FakePayments, FakeVoice
from portico.app.wiring.lifecycle import CLOSABLE_PROVIDERS
from portico.app.wiring.outbox import command_ports
from portico.domain.commands import Command
from portico.domain.errors import LocalRejection
from portico.ports import PORTS, CommandPorts, execute, served
from tests.outbox.strategies import commands


FAKES = {
    "messaging": FakeMessaging,
    "crm": FakeCRM,
    "payments": FakePayments,
    "voice": FakeVoice,
    "email": FakeEmail,
}


def test_every_command_names_a_port() -> None:
    """Each command's integration is a key of PORTS, and every port has commands."""
    names = {kind.integration for kind in get_args(Command)}
    assert names == set(PORTS)
    assert list(PORTS) == list(CommandPorts.__annotations__)


def test_closing_covers_every_ports_adapter() -> None:
    """The container's adapters to close are derived from PORTS, one per port."""
    assert [f"{port}_adapter" for port in PORTS] == list(CLOSABLE_PROVIDERS[: len(PORTS)])


@given(commands)
async def test_execute_goes_through_the_port_the_command_names(command: Command) -> None:
    """Without its own port a command is refused locally, whatever other ports are there."""
    others = command_ports(**{name: FAKES[name]() for name in PORTS if name != command.integration})
    assert command.integration not in served(others)
    with pytest.raises(LocalRejection, match=f"no {command.integration} port configured"):
        await execute(command, others)


def test_command_ports_checks_names_and_kinds() -> None:
    """An unknown name or an object that is not its port's kind is refused; None is left out."""
    assert served(command_ports(messaging=FakeMessaging(), crm=None)) == {"messaging"}
    with pytest.raises(ValueError, match="sms: not a port"):
        command_ports(sms=FakeMessaging())
    with pytest.raises(TypeError, match="voice: a FakeMessaging is not a VoicePort"):
        command_ports(voice=FakeMessaging())
