"""Structured outputs in a request body: OpenAI's `response_format` and vLLM's `guided_*` and
`structured_outputs` fields, as pydantic models, and the one output constraint (model/grammar.py's Grammar) a body
asks for. Compiled against the model's vocabulary in serving.py, where a schema it cannot follow is a 400."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import Field

from model.grammar import Grammar

from ..errors import BadRequest
from ..validation import Body, refuse

MAX_GUIDED_CHOICES = 256  # strings of a guided_choice


class TextFormat(Body):
    type: Literal["text"] | None = "text"


class JsonObjectFormat(Body):
    type: Literal["json_object"]


class JsonSchema(Body):
    name: Annotated[str, Field(max_length=64)] = "response"
    # `schema` would shadow BaseModel.schema(): the attribute is schema_, the JSON field `schema`
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="A JSON Schema; none: any JSON.")
    strict: bool | None = None  # accepted: the output always follows the schema
    description: str | None = None


class JsonSchemaFormat(Body):
    type: Literal["json_schema"]
    json_schema: JsonSchema


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, refuse(
    "must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": "
    "{\"name\": ..., \"schema\": {...}}}.", "invalid_value", keep_ours=False)]
Choices = Annotated[list[str], Field(min_length=1, max_length=MAX_GUIDED_CHOICES)]
JsonSchemaValue = Annotated[dict[str, Any] | str, refuse("must be a JSON Schema, as an object or a string.")]


class StructuredOutputs(Body):
    """vLLM's newer form of the guided_* fields: one of them."""

    json_: JsonSchemaValue | None = Field(None, alias="json")
    regex: str | None = None
    choice: Choices | None = None
    json_object: bool | None = None


class AsksForOutput(Protocol):
    """The fields of a request body (protocol.py's GenerationBody) that constrain the output."""

    response_format: TextFormat | JsonObjectFormat | JsonSchemaFormat | None
    guided_json: dict[str, Any] | str | None
    guided_regex: str | None
    guided_choice: list[str] | None
    structured_outputs: StructuredOutputs | None


def output_constraint(b: AsksForOutput) -> tuple[Grammar | None, str | None]:
    """The one output constraint the body asks for, and the field that asked; 400 when it asks for two."""
    asked: list[tuple[str, Grammar]] = []
    rf = b.response_format
    if isinstance(rf, JsonObjectFormat):
        asked.append(("response_format", Grammar("json", None)))
    elif isinstance(rf, JsonSchemaFormat):
        asked.append(("response_format", Grammar("json", rf.json_schema.schema_)))
    if b.guided_json is not None:
        asked.append(("guided_json", Grammar("json", b.guided_json)))
    if b.guided_regex is not None:
        asked.append(("guided_regex", Grammar("regex", b.guided_regex)))
    if b.guided_choice is not None:
        asked.append(("guided_choice", Grammar("choice", tuple(b.guided_choice))))
    if (so := b.structured_outputs) is not None:
        for name, grammar in (("json", so.json_ is not None and Grammar("json", so.json_)),
                              ("regex", so.regex is not None and Grammar("regex", so.regex)),
                              ("choice", so.choice is not None and Grammar("choice", tuple(so.choice))),
                              ("json_object", bool(so.json_object) and Grammar("json", None))):
            if grammar:
                asked.append((f"structured_outputs.{name}", grammar))
    if len(asked) > 1:
        raise BadRequest(f"Ask for one output format, not {len(asked)}: {', '.join(p for p, _ in asked)}.",
                         asked[1][0], "invalid_value")
    return (asked[0][1], asked[0][0]) if asked else (None, None)
