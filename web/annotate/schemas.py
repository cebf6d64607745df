"""The bodies of the annotation API's POST routes (api.py, model.py) as pydantic
models: a body is validated whole before anything is applied or stored ("validate, then apply"), and
web/ops/openapi_schemas.py writes /openapi.json's request schemas from these same models. Defaults are those of the
annotation service our users come from.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..openai.protocol import MAX_N, MAX_TOKENS_LIMIT, RANGES
from ..validation import NOT_BLANK, Body, NonBlank, integer, number
from .jobs import MAX_FOLDER_BYTES, folder_name

Mode = Literal["single", "multi"]


class GenerationSettings(Body):
    """The body of POST /api/model/load: the model and what /api/generate samples with."""

    model: str | None = Field(None, description="A model id from /v1/models; the default model when omitted.")
    mode: Mode | None = Field("single", description="single: chosen and rejected; multi: a conversation.")
    num_responses: integer(2, MAX_N) | None = Field(4, description="Candidates per message.")
    temperature: number(*RANGES["temperature"]) | None = 0.85
    top_p: number(*RANGES["top_p"]) | None = 0.9
    top_k: integer(0, RANGES["top_k"][1]) | None = Field(50, description="0 is off.")
    repetition_penalty: number(*RANGES["repetition_penalty"]) | None = 1.15
    # the server's default max_tokens; a small GPT rarely stays on topic longer
    max_new_tokens: integer(1) | None = Field(150, description="Up to MAX_TOKENS_LIMIT.")
    system_prompt: str | None = ""
    enable_thinking: bool | None = Field(True, description="Open the model's thinking markers, if it has any.")
    show_thinking: bool | None = Field(True, description="Return the thinking beside each candidate.")

    @field_validator("max_new_tokens")
    @classmethod
    def _within_limit(cls, value: int, info: ValidationInfo) -> int:
        limit = (info.context or {}).get("max_tokens_limit", MAX_TOKENS_LIMIT)
        if value > limit:
            raise PydanticCustomError("invalid_value", "must be at most {limit} (MAX_TOKENS_LIMIT).", {"limit": limit})
        return value


class ContextTurn(Body):
    role: Literal["user", "assistant"]
    content: str


Context = Annotated[list[ContextTurn], Field(description="The earlier turns of the conversation, oldest first.")]


class CandidatesBody(Body):
    """The body of POST /api/generate."""

    message: NonBlank
    context: Context | None = []


class DatasetAddBody(Body):
    """The body of POST /api/dataset/add; `rejected` is required in single mode."""

    mode: Mode | None = Field(None, description="The loaded settings' mode when omitted.")
    human_input: NonBlank
    chosen: NonBlank
    rejected: NonBlank | None = None
    chosen_thinking: str | None = None
    rejected_thinking: str | None = None
    context: Context | None = []
    system_prompt: str | None = Field(None, description="The loaded settings' system prompt when omitted.")
    # for the document: outside multi mode a rejected reply is required (the view checks it against the mode in use)
    model_config = ConfigDict(json_schema_extra={
        "if": {"required": ["mode"], "properties": {"mode": {"const": "multi"}}},
        "else": {"required": ["rejected"], "properties": {"rejected": {"type": "string", "pattern": NOT_BLANK}}}})


def _usable_name(name: str) -> str:
    folder = folder_name(name)
    if not folder:
        raise PydanticCustomError("invalid_value", "needs a letter or a digit: it names the new model's folder.")
    if len(folder.encode()) > MAX_FOLDER_BYTES:
        raise PydanticCustomError("invalid_value", "is too long for a folder name (at most {n} bytes in UTF-8).",
                                  {"n": MAX_FOLDER_BYTES})
    return name


# 60 characters of up to 4 bytes each fit MAX_FOLDER_BYTES; the pattern (a letter, digit or '_') is what
# _usable_name checks first, for the document
ModelName = Annotated[str, Field(min_length=1, max_length=60, json_schema_extra={"pattern": r"\w"}),
                      AfterValidator(_usable_name)]


class TrainStartBody(Body):
    """The body of POST /api/train/start."""

    method: Literal["sft", "dpo"] | None = "dpo"
    base_model: str | None = Field(None, description="The loaded model, else the default model, when omitted.")
    model: str | None = Field(None, description="Another name for base_model.")
    steps: integer(1, 1_000_000) | None = 100
    lr: number(1e-9, 1.0) | None = Field(None, description="model.finetune's default for the method when omitted.")
    beta: number(1e-4, 100.0) | None = Field(0.1, description="DPO's beta.")
    batch_size: integer(1, 1024) | None = 8
    name: ModelName | None = Field(None, description="The new model's id (letters, digits, '.', '_' and '-'; "
                                   "other characters become '-'); the base's name, the method and the time when "
                                   "omitted.")
