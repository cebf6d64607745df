"""OpenAI request bodies -> validated dataclasses (no Flask here: tests feed plain dicts).

Fields follow the OpenAI API reference; everything the common clients send is accepted (research §2.3:
LobeChat sends `user` and `stream_options`, vLLM's benchmark content-part lists). A field we cannot honour
(tools, JSON mode, echo, suffix, best_of) is a 400 that names it, never silently ignored; a value out of range
is a 400 whose `param` is the field. Unknown fields are ignored, as vLLM and OpenAI do.
Response builders live in responses.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from model.sampling import SamplingParams
from model.settings import DEFAULT_SAMPLING

from .errors import BadRequest

# one source for the API, the playground and the CLI: the Flask nanoGPT server's defaults (model/settings.py)
DEFAULTS = {name: getattr(DEFAULT_SAMPLING, name) for name in ("max_tokens", "temperature", "top_k", "top_p")}
MAX_N = 10
MAX_STOP = 16
MAX_LOGPROBS = 20
MAX_CHOICES = 128  # prompts x n in one completions request
# what the API accepts, (low, high) inclusive: the validation below and the playground's sliders read these, so
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
ROLES = {"system", "developer", "user", "assistant"}  # 'developer' is OpenAI's new name for 'system'


@dataclass
class Message:
    role: str  # system | user | assistant ('developer' is read as 'system')
    content: str


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

    def sampling_params(self, choice: int = 0, extra_stop: tuple[str, ...] = ()) -> SamplingParams:
        """The engine's parameters for one choice; choice i of a seeded request uses seed + i, so n > 1 differ."""
        seed = None if self.seed is None else (self.seed + choice) % 2**63
        return SamplingParams(
            max_tokens=self.max_tokens, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
            min_p=self.min_p, presence_penalty=self.presence_penalty, frequency_penalty=self.frequency_penalty,
            repetition_penalty=self.repetition_penalty, logit_bias=dict(self.logit_bias), seed=seed,
            stop=self.stop + extra_stop, ignore_eos=self.ignore_eos, logprobs=self.logprobs)


@dataclass
class CompletionRequest(GenerationRequest):
    prompts: list[str | list[int]] = field(default_factory=list)  # one entry per prompt of the batch


@dataclass
class ChatRequest(GenerationRequest):
    messages: list[Message] = field(default_factory=list)


class _Body:
    """Typed reads of a JSON object; every failure is a 400 that names the field."""

    def __init__(self, body: object):
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.", code="invalid_json")
        self.d = body

    def get(self, name: str):
        return self.d.get(name)

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        v = self.d.get(name)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise BadRequest(f"'{name}' must be a number.", name, "invalid_type")
        if not lo <= v <= hi:
            raise BadRequest(f"'{name}' must be between {lo} and {hi}; got {v}.", name, "invalid_value")
        return float(v)

    def integer(self, name: str, default: int | None, lo: int, hi: int) -> int | None:
        v = self.d.get(name)
        if v is None:
            return default
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise BadRequest(f"'{name}' must be an integer.", name, "invalid_type")
        if not lo <= v <= hi:
            raise BadRequest(f"'{name}' must be between {lo} and {hi}; got {v}.", name, "invalid_value")
        return v

    def boolean(self, name: str, default: bool) -> bool:
        v = self.d.get(name)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise BadRequest(f"'{name}' must be true or false.", name, "invalid_type")
        return v


def _unsupported(name: str, what: str) -> BadRequest:
    return BadRequest(f"'{name}' is not supported by this server: {what}", name, "unsupported_parameter")


def _reject_unsupported(b: _Body) -> None:
    # base GPT-2 checkpoints cannot call tools or follow a JSON schema; saying so beats ignoring the request
    if b.get("tools"):
        raise _unsupported("tools", "the models are plain language models without tool calling.")
    if b.get("functions"):
        raise _unsupported("functions", "the models are plain language models without function calling.")
    for name in ("tool_choice", "function_call"):
        if b.get(name) not in (None, "none", "auto"):
            raise _unsupported(name, "no tools are available.")
    fmt = b.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") in (None, "text")):
        raise _unsupported("response_format", "only {\"type\": \"text\"} is available.")
    if b.get("best_of") not in (None, 1):
        raise _unsupported("best_of", "ask for n candidates instead.")
    if b.get("modalities") not in (None, ["text"]) or b.get("audio") is not None:
        raise _unsupported("modalities", "only text is generated.")


def _stop(b: _Body) -> tuple[str, ...]:
    v = b.get("stop")
    if v is None:
        return ()
    stops = [v] if isinstance(v, str) else v
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise BadRequest("'stop' must be a string or a list of strings.", "stop", "invalid_type")
    if len(stops) > MAX_STOP:
        raise BadRequest(f"'stop' holds at most {MAX_STOP} strings.", "stop", "invalid_value")
    return tuple(s for s in stops if s)


def _logit_bias(b: _Body) -> dict[int, float]:
    v = b.get("logit_bias")
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise BadRequest("'logit_bias' must map token ids to numbers.", "logit_bias", "invalid_type")
    out = {}
    for key, bias in v.items():
        try:
            token = int(key)
        except (TypeError, ValueError):
            raise BadRequest(f"'logit_bias' keys must be token ids; got {key!r}.", "logit_bias",
                             "invalid_value") from None
        if token < 0 or isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise BadRequest(f"'logit_bias' maps token ids >= 0 to numbers between -100 and 100; got "
                             f"{key!r}: {bias!r}.", "logit_bias", "invalid_value")
        out[token] = float(bias)
    return out


def _common(b: _Body, max_tokens_limit: int, logprobs: int | None) -> dict:
    model = b.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("'model' must be a string.", "model", "invalid_type")
    # max_completion_tokens replaces the deprecated max_tokens; vLLM prefers it when both are sent
    name = "max_completion_tokens" if b.get("max_completion_tokens") is not None else "max_tokens"
    stream = b.boolean("stream", False)
    options = b.get("stream_options")
    if options is not None:
        if not stream:  # what OpenAI answers too (lobehub#6735)
            raise BadRequest("'stream_options' is only allowed when 'stream' is true.", "stream_options",
                             "invalid_value")
        if not isinstance(options, dict):
            raise BadRequest("'stream_options' must be an object.", "stream_options", "invalid_type")
    include_usage = _Body(options or {}).boolean("include_usage", False)
    top_k = b.integer("top_k", DEFAULTS["top_k"], *RANGES["top_k"])
    user = b.get("user")
    if user is not None and not isinstance(user, str):
        raise BadRequest("'user' must be a string.", "user", "invalid_type")
    return dict(
        model=model or None,
        max_tokens=b.integer(name, DEFAULTS["max_tokens"], 1, max_tokens_limit),
        temperature=b.number("temperature", DEFAULTS["temperature"], *RANGES["temperature"]),
        top_p=b.number("top_p", DEFAULTS["top_p"], *RANGES["top_p"]),
        top_k=max(top_k, 0),  # vLLM's -1 and 0 both mean "no top-k"
        min_p=b.number("min_p", 0.0, *RANGES["min_p"]),
        presence_penalty=b.number("presence_penalty", 0.0, *RANGES["presence_penalty"]),
        frequency_penalty=b.number("frequency_penalty", 0.0, *RANGES["frequency_penalty"]),
        repetition_penalty=b.number("repetition_penalty", 1.0, *RANGES["repetition_penalty"]),
        logit_bias=_logit_bias(b),
        seed=b.integer("seed", None, *RANGES["seed"]),
        stop=_stop(b),
        n=b.integer("n", 1, *RANGES["n"]),
        logprobs=logprobs,
        ignore_eos=b.boolean("ignore_eos", False),
        stream=stream,
        include_usage=include_usage,
        user=user,
    )


def _prompts(v: object) -> list[str | list[int]]:
    def is_ids(x):
        return isinstance(x, list) and bool(x) and all(isinstance(t, int) and not isinstance(t, bool) for t in x)

    if isinstance(v, str):
        return [v]
    if is_ids(v):
        return [v]
    if isinstance(v, list) and v and all(isinstance(p, str) or is_ids(p) for p in v):
        return list(v)
    raise BadRequest("'prompt' must be a string, a list of strings, a list of token ids or a list of such "
                     "lists (none of them empty).", "prompt", "invalid_type" if v is not None else "missing")


def parse_completion(body: object, max_tokens_limit: int = 4096) -> CompletionRequest:
    """Validate a /v1/completions body."""
    b = _Body(body)
    _reject_unsupported(b)
    if b.get("echo"):
        raise _unsupported("echo", "the prompt is not repeated in the output.")
    if b.get("suffix"):
        raise _unsupported("suffix", "GPT-2 models cannot fill in the middle.")
    prompts = _prompts(b.get("prompt"))
    logprobs = b.integer("logprobs", None, 0, MAX_LOGPROBS)
    req = CompletionRequest(prompts=prompts, **_common(b, max_tokens_limit, logprobs))
    if len(prompts) * req.n > MAX_CHOICES:
        raise BadRequest(f"At most {MAX_CHOICES} completions per request (prompts x n).", "prompt", "invalid_value")
    return req


def _content(content: object, i: int) -> str:
    param = f"messages[{i}].content"
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise BadRequest(f"Only text content parts are supported; {param} holds a {kind!r} part.",
                                 param, "unsupported_content")
            texts.append(part["text"])
        return "".join(texts)
    raise BadRequest(f"'{param}' must be a string or a list of text parts.", param, "invalid_type")


def _messages(v: object) -> list[Message]:
    if not isinstance(v, list) or not v:
        raise BadRequest("'messages' must be a non-empty list.", "messages",
                         "missing" if v is None else "invalid_type")
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict):
            raise BadRequest(f"'messages[{i}]' must be an object.", f"messages[{i}]", "invalid_type")
        role = m.get("role")
        if role not in ROLES:
            raise BadRequest(f"'messages[{i}].role' must be one of system, user, assistant; got {role!r}"
                             f"{' (tool messages need tool calling, which is not supported)' if role == 'tool' else ''}.",
                             f"messages[{i}].role", "invalid_value")
        out.append(Message("system" if role == "developer" else role, _content(m.get("content"), i)))
    return out


def parse_chat(body: object, max_tokens_limit: int = 4096) -> ChatRequest:
    """Validate a /v1/chat/completions body."""
    b = _Body(body)
    _reject_unsupported(b)
    messages = _messages(b.get("messages"))
    # chat logprobs: a boolean, with top_logprobs (0-20) alternatives per token
    want = b.boolean("logprobs", False)
    top = b.integer("top_logprobs", None, 0, MAX_LOGPROBS)
    if top is not None and not want:
        raise BadRequest("'top_logprobs' needs 'logprobs': true.", "top_logprobs", "invalid_value")
    return ChatRequest(messages=messages, **_common(b, max_tokens_limit, (top or 0) if want else None))
