"""JsonNode: one typed reader for webhook bodies, vendor answers and stored commands."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.adapters.http import response_errors
from portico.domain.errors import InvalidValue, MalformedWebhook, PorticoError, UnexpectedResponse
from portico.domain.json_reader import ErrorFactory, JsonNode, PathError, malformed, parse_json
from portico.domain.values import Money


SECRET = "+40712345678"  # stands for any patient data a field may hold

# (error factory, the type it raises, how that error spells "<path>: <rule>")
SOURCES: dict[str, tuple[ErrorFactory, type[PorticoError], Callable[[Any], str]]] = {
    "webhook": (malformed("vendor"), MalformedWebhook, lambda e: e.reason),
    "response": (response_errors("vendor", "read"), UnexpectedResponse, lambda e: e.message),
    "stored": (PathError, InvalidValue, lambda e: f"{e.field}: {e.rule}"),
}


@pytest.fixture(name="source", params=sorted(SOURCES))
def _source(request: pytest.FixtureRequest) -> tuple[ErrorFactory, type[PorticoError], Any]:
    return SOURCES[request.param]


@pytest.mark.parametrize(
    ("data", "read", "says"),
    [
        ({}, lambda n: n.text("id"), "id: missing"),
        ({"id": None}, lambda n: n.text("id"), "id: missing"),
        ({"id": 3}, lambda n: n.text("id"), "id: must be a string, not an integer"),
        ({"id": " "}, lambda n: n.text("id"), "id: must not be empty"),
        ({"n": True}, lambda n: n.integer("n"), "n: must be an integer, not a boolean"),
        ({"n": -1}, lambda n: n.integer("n", minimum=0), "n: must be at least 0"),
        ({"n": True}, lambda n: n.get("n", int), "n: must be an integer, not a boolean"),
        ({"o": {"p": {}}}, lambda n: n.child("o").child("p").text("q"), "o.p.q: missing"),
        ({"o": []}, lambda n: n.child("o"), "o: must be an object, not an array"),
        (
            {"l": [1]},
            lambda n: n.items("l")[0].text("x"),
            "l[0]: must be an object, not an integer",
        ),
        ({"l": {}}, lambda n: n.items("l"), "l: must be an array, not an object"),
        ({"b": "yes"}, lambda n: n.opt("b", bool), "b: must be a boolean, not a string"),
        ({"t": "soon"}, lambda n: n.timestamp("t"), "t: must be a Unix time"),
        ({"t": 1e300}, lambda n: n.timestamp("t"), "t: not a valid Unix time"),
        ({"t": "noon"}, lambda n: n.iso_time("t"), "t: not an ISO 8601 time"),
        ({"m": {"a": 1}}, lambda n: n.text_map("m"), "m: must map strings to strings"),
        ({"s": ["a", 1]}, lambda n: n.texts("s"), "s: must be an array of strings"),
    ],
)
def test_a_bad_field_raises_the_sources_error_naming_its_path(
    source: Any, data: dict[str, Any], read: Any, says: str
) -> None:
    """Each source gets its own error type, and every one names the path and the rule."""
    factory, kind, spelled = source
    with pytest.raises(kind) as caught:
        read(JsonNode(data, error=factory))
    assert spelled(caught.value).endswith(says)


def test_values_never_appear_in_errors_or_reprs(source: Any) -> None:
    """The rejected value (maybe patient data) is in no message and no repr."""
    factory, kind, _ = source
    node = JsonNode({"phone": SECRET, "n": SECRET}, error=factory, path="body")
    with pytest.raises(kind) as caught:
        node.integer("n")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in repr(node)
    with pytest.raises(kind) as caught:
        node.build(lambda: Money(-1, "EUR"))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(("root", "prefix"), [("", ""), ("body", "body.")])
def test_nested_nodes_name_their_whole_path(root: str, prefix: str) -> None:
    """Paths are spelled only on demand, yet name every step: fields, indexes, the root's path."""
    data = {"entry": [{"changes": [{}, {"value": {"ids": [1, "x"]}}]}]}
    node = JsonNode(data, error=malformed("vendor"), path=root)
    change = node.items("entry")[0].items("changes")[1]
    value = change.child("value")
    assert node.path == root
    assert change.path == f"{prefix}entry[0].changes[1]"
    assert value.path == f"{prefix}entry[0].changes[1].value"
    ids = value.items("ids")
    with pytest.raises(MalformedWebhook) as caught:
        ids[0].text("id")
    assert caught.value.reason == (
        f"{prefix}entry[0].changes[1].value.ids[0]: must be an object, not an integer"
    )
    with pytest.raises(MalformedWebhook) as caught:
        value.opt_child("ids")
    assert (
        caught.value.reason
        == f"{prefix}entry[0].changes[1].value.ids: must be an object, not an array"
    )
    with pytest.raises(MalformedWebhook) as caught:
        node.items("entry")[0].items("changes")[0].text("id")
    assert caught.value.reason == f"{prefix}entry[0].changes[0].id: missing"
    assert repr(ids[1]) == f"JsonNode({prefix}entry[0].changes[1].value.ids[1]: a string)"


@pytest.mark.parametrize("blank", [" ", "\t\n", "\u2003\u00a0"])
def test_blank_text_is_empty_whatever_the_whitespace(blank: str) -> None:
    """A string of only (Unicode) whitespace is refused by text and by opt_text."""
    node = JsonNode({"t": blank}, error=PathError)
    for read in (node.text, node.opt_text):
        with pytest.raises(InvalidValue, match="must not be empty"):
            read("t")


def test_build_names_the_domain_field_under_the_nodes_path() -> None:
    """A domain constructor's InvalidValue becomes the node's error, prefixed with its path."""
    node = JsonNode({}, error=malformed("stripe"), path="body.data.object")
    with pytest.raises(MalformedWebhook, match=r"body\.data\.object\.currency: "):
        node.build(lambda: Money(100, "XXX"))


def test_stored_errors_nest_without_prefixing_twice() -> None:
    """An inner node's PathError already names its full path: an outer build passes it on."""
    root = JsonNode({"request": {"amount": {}}}, error=PathError)
    inner = root.child("request").child("amount")
    with pytest.raises(InvalidValue) as caught:
        root.build(lambda: inner.get("amount_minor", int))
    assert caught.value.field == "request.amount.amount_minor"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe", "body: not UTF-8"),
        (b"{not json", "body: not valid JSON (line 1, column 2)"),
        (b'{"n": NaN}', "NaN"),
        (b"[" * 100_000, "nested too deeply|not valid JSON"),
    ],
)
def test_parse_json_refuses_what_is_not_plain_json(body: bytes, says: str) -> None:
    """Undecodable bodies are the source's error with a reason, never a JSON exception."""
    with pytest.raises(MalformedWebhook, match=re.escape(says) if "|" not in says else says):
        parse_json(body, error=malformed("vendor"))


def test_optional_getters_read_absent_and_null_as_none() -> None:
    """opt_ getters: absent, null (and for text, empty) are None; lenient maps skip non-strings."""
    node = JsonNode({"a": None, "e": "", "m": {"x": "y", "z": 2, "n": None}}, error=PathError)
    assert node.opt_text("a") is None
    assert node.opt_text("e") is None
    assert node.get("e", str) == ""
    assert node.opt_child("missing") is None
    assert node.items("missing", required=False) == []
    assert node.text_map("m", lenient=True) == {"x": "y"}
    assert node.text_map("missing") == {}


def test_integers_and_ids_accept_what_forms_and_vendors_send() -> None:
    """Digit strings read as integers (forms), integer ids read as decimal strings."""
    node = JsonNode({"n": "12", "id": 42, "huge": "9" * 19}, error=PathError)
    assert node.integer("n") == 12
    assert node.identifier("id") == "42"
    with pytest.raises(InvalidValue):
        node.integer("huge")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), st.lists, max_leaves=8))
def test_any_shape_reads_or_fails_cleanly(value: object) -> None:
    """Whatever the document, a getter returns or raises the source's error, nothing else."""
    node = JsonNode({"f": value}, error=malformed("vendor"))
    for read in (
        lambda: node.text("f"),
        lambda: node.integer("f"),
        lambda: node.items("f"),
        lambda: node.child("f"),
        lambda: node.timestamp("f"),
        lambda: node.text_map("f"),
    ):
        with contextlib.suppress(MalformedWebhook):
            read()
