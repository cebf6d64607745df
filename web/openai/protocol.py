"""OpenAI request bodies: the pydantic models of what /v1 accepts (openapi_schemas.py writes /openapi.json's
request schemas from them) and the validated requests Serving runs (no Flask here: tests feed plain dicts).

Fields follow the OpenAI API reference; everything the common clients send is accepted: LobeChat's `user` and
`stream_options`, vLLM's benchmark content-part lists, and the `tools` (or `functions`) that chat UIs such as
Open WebUI send with every chat: the models answer in text, as OpenAI's do when they choose no tool. Structured
outputs come as OpenAI's `response_format` (json_object, json_schema) or vLLM's `guided_json`, `guided_regex`,
`guided_choice` and `structured_outputs`; model/grammar.py enforces them. A history with tool calls and tool
results (another model's) is rendered as text. What we cannot honour (a `tool_choice` that demands a tool call,
echo, suffix, best_of > 1) is a 400 that names the field, never silently ignored; a value out of range is a 400
whose `param` is the field. Unknown fields are ignored, as vLLM and OpenAI do. Response builders live in
responses.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, ConfigDict, Field, ValidationError, ValidationInfo, WithJsonSchema,
                      WrapValidator, field_validator)
from pydantic_core import PydanticCustomError

from model.grammar import CompiledGrammar, Grammar
from model.sampling import SamplingParams
from model.settings import DEFAULT_SAMPLING

from engine import Message  # a chat turn as the transcript renders it ('developer' is read as 'system')

from ..errors import BadRequest
from ..validation import Body, exactly, integer, number, refuse, short, unsupported, validate
from .structured import Choices, JsonSchemaValue, ResponseFormat, StructuredOutputs, output_constraint

# one source for the API, the playground and the CLI: the Flask nanoGPT server's defaults (model/settings.py)
DEFAULTS = {name: getattr(DEFAULT_SAMPLING, name) for name in ("max_tokens", "temperature", "top_k", "top_p")}
MAX_N = 10
MAX_STOP = 16
# per stop string (OpenAI documents none): the engine matches every stop against the tail of the text after
# each token (model/stop.py), work that grows with the string's length, on the thread every stream shares
MAX_STOP_CHARS = 256
MAX_LOGIT_BIAS = 300  # entries, OpenAI's cap
MAX_LOGPROBS = 20
MAX_CHOICES = 128  # prompts x n in one completions request
MAX_TOKENS_LIMIT = 4096  # ServerConfig.max_tokens_limit's default; the routes pass the configured one
# what the API accepts, (low, high) inclusive: the models below and the playground's sliders read these, so
# the page never offers a value the API refuses (max_tokens' bound is ServerConfig.max_tokens_limit)
RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (-1, 1 << 30),  # -1 and 0 both mean off
    "min_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "repetition_penalty": (1e-6, 10.0),
    "seed": (-2**63, 2**64 - 1),
    "n": (1, MAX_N),
}


@dataclass
class GenerationRequest:
    """What chat and completions share: the model, the sampling parameters and the response options."""

    model: str | None
    max_tokens: int = DEFAULTS["max_tokens"]
    temperature: float = DEFAULTS["temperature"]
    top_p: float = DEFAULTS["top_p"]
    top_k: int = DEFAULTS["top_k"]
    min_p: float = 0.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    logprobs: int | None = None  # None = off; k = the chosen token and the k most likely
    ignore_eos: bool = False
    stream: bool = False
    include_usage: bool = False
    user: str | None = None
    grammar: Grammar | None = None  # the output must match it (structured outputs)
    grammar_param: str | None = None  # the field it came from, for errors

    def sampling_params(self, choice: int = 0, extra_stop: tuple[str, ...] = (),
                        grammar: CompiledGrammar | None = None) -> SamplingParams:
        """The engine's parameters for one choice; choice i of a seeded request uses seed + i, so n > 1 differ.
        `grammar` is self.grammar compiled for the model's vocabulary (serving.py)."""
        seed = None if self.seed is None else (self.seed + choice) % 2**63
        return SamplingParams(
            max_tokens=self.max_tokens, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
            min_p=self.min_p, presence_penalty=self.presence_penalty, frequency_penalty=self.frequency_penalty,
            repetition_penalty=self.repetition_penalty, logit_bias=dict(self.logit_bias), seed=seed,
            stop=self.stop + extra_stop, ignore_eos=self.ignore_eos, logprobs=self.logprobs, grammar=grammar)


@dataclass
class CompletionRequest(GenerationRequest):
    prompts: list[str | list[int]] = field(default_factory=list)  # one entry per prompt of the batch


@dataclass
class ChatRequest(GenerationRequest):
    messages: list[Message] = field(default_factory=list)


# --- field types ----------------------------------------------------------------------------------------------

# the largest token id of any tokenizer a checkpoint can have (GPT-2's BPE: 50,257 tokens); a model with a smaller
# vocabulary (a character-level nanoGPT) refuses its own out-of-range ids in serving
MAX_TOKEN_ID = 50256
TokenId = integer(0, MAX_TOKEN_ID)
TokenIds = Annotated[list[TokenId], Field(min_length=1)]
TOKEN_ID_KEY = r"^(?:[0-9]{1,4}|[1-4][0-9]{4}|50[01][0-9]{2}|502[0-4][0-9]|5025[0-6])$"  # "0" .. "50256"


def _logit_bias(value: dict) -> dict[int, float]:
    out = {}
    for key, bias in value.items():
        if not (isinstance(key, str) and re.fullmatch(TOKEN_ID_KEY, key)):
            raise PydanticCustomError("invalid_value", "maps token ids (strings of digits up to {top}) to numbers; "
                                      "got the key {key}.", {"key": short(key), "top": MAX_TOKEN_ID})
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise PydanticCustomError("invalid_value", "maps token ids to numbers between -100 and 100; got "
                                      "{key}: {bias}.", {"key": short(key), "bias": short(bias)})
        out[int(key)] = float(bias)
    return out


LogitBias = Annotated[dict[Any, Any], Field(max_length=MAX_LOGIT_BIAS), AfterValidator(_logit_bias), WithJsonSchema({
    "type": "object", "maxProperties": MAX_LOGIT_BIAS, "propertyNames": {"pattern": TOKEN_ID_KEY},
    "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100},
    "description": "Token id (as a string) -> bias added to its logit."})]
StopString = Annotated[str, Field(max_length=MAX_STOP_CHARS)]
Stop = Annotated[StopString | Annotated[list[StopString], Field(max_length=MAX_STOP)], refuse(
    f"must be a string or a list of at most {MAX_STOP} strings, each at most {MAX_STOP_CHARS} characters long.")]
NO_TOOLS = "the models answer in text and never call a tool; send 'auto' or 'none', or leave it out."


def _role(value: Any, handler):
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("invalid_value", "must be one of system, developer, user, assistant, tool; got "
                                  "{got}.", {"got": short(value)}) from None


def _content(value: Any, handler):
    try:
        return handler(value)
    except ValidationError:
        if isinstance(value, list):
            kinds = [p.get("type") if isinstance(p, dict) else p for p in value]
            other = next((k for k in kinds if k != "text"), None)
            if other is not None:
                raise PydanticCustomError("unsupported_content", "holds a {kind} part: only text content parts are "
                                          "supported.", {"kind": short(other)}) from None
        raise PydanticCustomError("invalid_type", "must be a string or a list of text parts "
                                  "(each with type 'text' and a string 'text').") from None


class TextPart(Body):
    type: Literal["text"]
    text: str


class FunctionCall(Body):
    name: str
    arguments: str = ""


class ToolCall(Body):
    function: FunctionCall  # and an id and type, which the transcript has no use for


class ChatMessage(Body):
    # 'developer' is OpenAI's newer name for 'system'; 'function' its older one for 'tool'
    role: Annotated[Literal["system", "developer", "user", "assistant", "tool", "function"], WrapValidator(_role)]
    content: Annotated[str | list[TextPart] | None, WrapValidator(_content)] = None
    name: str | None = None  # accepted, not used: a transcript has no names
    # a conversation that another model's tool calls went through (a chat UI's model switched mid-chat) reads on:
    # the calls as text in the assistant's turn, each result as a tool turn
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    tool_call_id: str | None = None


class StreamOptions(Body):
    include_usage: bool | None = False


# --- the bodies ----------------------------------------------------------------------------------------------

# what one field allows only with another, in JSON Schema's words (the validators below say it in pydantic's)
STREAM_OPTIONS_NEED_STREAM = {"if": {"required": ["stream_options"], "properties": {"stream_options": {
    "type": "object"}}}, "then": {"required": ["stream"], "properties": {"stream": {"const": True}}}}
TOP_LOGPROBS_NEED_LOGPROBS = {"if": {"required": ["top_logprobs"], "properties": {"top_logprobs": {
    "type": "integer"}}}, "then": {"required": ["logprobs"], "properties": {"logprobs": {"const": True}}}}


class GenerationBody(Body):
    """What chat and completions share."""

    model_config = ConfigDict(json_schema_extra={"allOf": [STREAM_OPTIONS_NEED_STREAM]})

    model: str | None = Field(None, description="A model id from /v1/models; the default model when omitted.")
    max_tokens: integer(1) | None = Field(DEFAULTS["max_tokens"], description="The most tokens to generate "
                                          "(up to MAX_TOKENS_LIMIT).")
    max_completion_tokens: integer(1) | None = Field(None, description="OpenAI's newer name; wins over max_tokens.")
    temperature: number(*RANGES["temperature"]) | None = Field(DEFAULTS["temperature"], description="0 is greedy.")
    top_p: number(*RANGES["top_p"]) | None = Field(DEFAULTS["top_p"], description="Nucleus sampling.")
    top_k: integer(*RANGES["top_k"]) | None = Field(DEFAULTS["top_k"], description="0 or -1 is off.")
    min_p: number(*RANGES["min_p"]) | None = Field(0.0, description="Drop tokens less likely than min_p times "
                                                   "the best one.")
    presence_penalty: number(*RANGES["presence_penalty"]) | None = Field(0.0, description="On generated tokens.")
    frequency_penalty: number(*RANGES["frequency_penalty"]) | None = Field(0.0, description="On generated tokens.")
    repetition_penalty: number(*RANGES["repetition_penalty"]) | None = Field(1.0, description="On prompt and "
                                                                             "generated tokens; 1 is off.")
    logit_bias: LogitBias | None = None
    seed: integer(*RANGES["seed"]) | None = Field(None, description="Choice i of n uses seed + i.")
    stop: Stop | None = None
    n: integer(*RANGES["n"]) | None = Field(1, description="Candidates per prompt.")
    ignore_eos: bool | None = False
    stream: bool | None = Field(False, description="Server-sent events, ending in [DONE].")
    stream_options: StreamOptions | None = Field(None, description="Only with stream: true.")
    user: str | None = None
    # chat UIs send their tools with every request; without a demand to call one, the model answers in text
    tools: list[dict[str, Any]] | None = Field(None, description="Accepted; the model answers in text.")
    functions: list[dict[str, Any]] | None = Field(None, description="Accepted; the model answers in text.")
    tool_choice: Annotated[Literal["none", "auto"] | None, unsupported(NO_TOOLS)] = None
    function_call: Annotated[Literal["none", "auto"] | None, unsupported(NO_TOOLS)] = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    # vLLM's structured outputs: at most one of these and response_format
    guided_json: JsonSchemaValue | None = None
    guided_regex: str | None = None
    guided_choice: Choices | None = None
    structured_outputs: StructuredOutputs | None = None
    best_of: Annotated[exactly(1) | None, unsupported("ask for n candidates instead.")] = None
    modalities: Annotated[list[Literal["text"]] | None, unsupported("only text is generated.")] = None
    audio: Annotated[None, unsupported("only text is generated.")] = None

    @field_validator("max_tokens", "max_completion_tokens")
    @classmethod
    def _within_limit(cls, value: int | None, info: ValidationInfo) -> int | None:
        limit = (info.context or {}).get("max_tokens_limit", MAX_TOKENS_LIMIT)
        if value is not None and value > limit:
            raise PydanticCustomError("invalid_value", "must be at most {limit} (MAX_TOKENS_LIMIT); got {got}.",
                                      {"limit": limit, "got": short(value)})
        return value

    @field_validator("stream_options")
    @classmethod
    def _needs_stream(cls, value: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
        if value is not None and not info.data.get("stream"):  # what OpenAI answers too (lobehub#6735)
            raise PydanticCustomError("invalid_value", "is only allowed when 'stream' is true.")
        return value


class CompletionOptions(GenerationBody):
    """What every completion route takes besides its prompts."""

    logprobs: integer(0, MAX_LOGPROBS) | None = Field(None, description="The chosen token and this many "
                                                      "alternatives, per token.")
    echo: Annotated[exactly(False) | None, unsupported("the prompt is not repeated in the output.")] = None
    suffix: Annotated[Literal[""] | None, unsupported("GPT-2 models cannot fill in the middle.")] = None


PROMPTS = "must be a string, a list of strings, a list of token ids or a list of such lists (none of them empty)."


class CompletionBody(CompletionOptions):
    prompt: Annotated[str | TokenIds | Annotated[list[str | TokenIds], Field(min_length=1)], refuse(PROMPTS)]


class ChatBody(GenerationBody):
    model_config = ConfigDict(json_schema_extra={"allOf": [STREAM_OPTIONS_NEED_STREAM, TOP_LOGPROBS_NEED_LOGPROBS]})

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    logprobs: bool | None = Field(False, description="Log-probabilities of the chosen tokens.")
    top_logprobs: integer(0, MAX_LOGPROBS) | None = Field(None, description="Alternatives per token; needs "
                                                          "logprobs: true.")

    @field_validator("top_logprobs")
    @classmethod
    def _needs_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise PydanticCustomError("invalid_value", "needs 'logprobs': true.")
        return value


# --- bodies -> requests ------------------------------------------------------------------------------------------

def _common(b: GenerationBody, logprobs: int | None) -> dict:
    stops = [b.stop] if isinstance(b.stop, str) else b.stop or []
    grammar, grammar_param = output_constraint(b)
    return dict(grammar=grammar, grammar_param=grammar_param,
        model=b.model or None,
        # max_completion_tokens replaces the deprecated max_tokens; vLLM prefers it when both are sent
        max_tokens=b.max_completion_tokens if b.max_completion_tokens is not None else b.max_tokens,
        temperature=b.temperature, top_p=b.top_p,
        top_k=max(b.top_k, 0),  # vLLM's -1 and 0 both mean "no top-k"
        min_p=b.min_p, presence_penalty=b.presence_penalty, frequency_penalty=b.frequency_penalty,
        repetition_penalty=b.repetition_penalty, logit_bias=b.logit_bias or {}, seed=b.seed,
        stop=tuple(s for s in stops if s), n=b.n, logprobs=logprobs, ignore_eos=b.ignore_eos, stream=b.stream,
        include_usage=bool(b.stream_options and b.stream_options.include_usage), user=b.user)


def prompt_list(prompt: str | list) -> list[str | list[int]]:
    """A `prompt` field -> one entry per prompt (a string, or a list of token ids)."""
    if isinstance(prompt, str) or isinstance(prompt[0], int):
        return [prompt]
    return list(prompt)


def completion_request(b: CompletionOptions, prompts: list[str | list[int]], param: str = "prompt"
                       ) -> CompletionRequest:
    req = CompletionRequest(prompts=prompts, **_common(b, b.logprobs))
    if len(prompts) * req.n > MAX_CHOICES:
        raise BadRequest(f"At most {MAX_CHOICES} completions per request (prompts x n).", param, "invalid_value")
    return req


ROLE_TURNS = {"developer": "system", "function": "tool"}  # the transcript's turn for each role it renames


def chat_messages(messages: list[ChatMessage]) -> list[Message]:
    def text(m: ChatMessage) -> str:
        content = m.content if isinstance(m.content, str) else "".join(p.text for p in m.content or [])
        calls = [c.function for c in m.tool_calls or []] + ([m.function_call] if m.function_call else [])
        return "\n".join(([content] if content else []) + [f"{c.name}({c.arguments})" for c in calls])

    return [Message(ROLE_TURNS.get(m.role, m.role), text(m)) for m in messages]


def chat_request(b: ChatBody) -> ChatRequest:
    # chat logprobs: a boolean, with top_logprobs (0-20) alternatives per token
    logprobs = (b.top_logprobs or 0) if b.logprobs else None
    return ChatRequest(messages=chat_messages(b.messages), **_common(b, logprobs))


def parse_completion(body: object, max_tokens_limit: int = MAX_TOKENS_LIMIT) -> CompletionRequest:
    """Validate a /v1/completions body."""
    b = validate(CompletionBody, body, max_tokens_limit=max_tokens_limit)
    return completion_request(b, prompt_list(b.prompt))


def parse_chat(body: object, max_tokens_limit: int = MAX_TOKENS_LIMIT) -> ChatRequest:
    """Validate a /v1/chat/completions body."""
    return chat_request(validate(ChatBody, body, max_tokens_limit=max_tokens_limit))
