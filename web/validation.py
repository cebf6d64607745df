"""What every request body model shares: a strict pydantic base, field types with our bounds and messages, and
one conversion of pydantic's errors into BadRequest (`param` from the error's `loc`, a code, a short message).

- Strict: JSON has no "1" for 1 and no 1 for true, so neither do we; the one coercion kept is an integral float
  for an integer (5.0 for max_tokens), which JSON Schema counts as an integer too.
- null means "the default" on every optional field (its type includes None, so /openapi.json says so).
- Unknown fields are ignored, as OpenAI and vLLM do.
- Messages never echo more than a few characters of the input (`short`): a client may send a megabyte.
The models themselves live with their routes (openai/protocol.py, simple/routes.py, ops/tokens.py, annotate/schemas.py);
ops/openapi_schemas.py writes /openapi.json's request schemas from them, so the document is what is validated.
"""
from __future__ import annotations

import math
import typing
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      WrapValidator, field_validator)
from pydantic_core import PydanticCustomError

from .errors import BadRequest

# error types we raise ourselves (PydanticCustomError): they are the API's codes as they are
OUR_CODES = {"invalid_type", "invalid_value", "missing", "unsupported_parameter", "unsupported_content"}
# pydantic's error types, as a phrase that follows the field's name
PHRASES = {
    "missing": "is required.",
    "int_type": "must be an integer.", "int_parsing": "must be an integer.",
    "int_from_float": "must be an integer.", "float_type": "must be a number.", "float_parsing": "must be a number.",
    "finite_number": "must be a finite number.", "bool_type": "must be true or false.",
    "bool_parsing": "must be true or false.", "string_type": "must be a string.", "list_type": "must be a list.",
    "dict_type": "must be an object.", "model_type": "must be an object.",
    "model_attributes_type": "must be an object.", "none_required": "must be null.",
    "greater_than_equal": "must be at least {ge}; got {input}.",
    "less_than_equal": "must be at most {le}; got {input}.",
    "greater_than": "must be greater than {gt}; got {input}.", "less_than": "must be less than {lt}; got {input}.",
    "literal_error": "must be one of {expected}; got {input}.", "enum": "must be one of {expected}; got {input}.",
    "too_short": "must hold at least {min_length} item(s).", "too_long": "must hold at most {max_length} items.",
    "string_too_short": "must not be empty.", "string_too_long": "must be at most {max_length} characters long.",
}
NOT_BLANK = r"\S"  # the pattern of a required text: something besides spaces


def short(value: object) -> str:
    """A value as an error message may show it: a few characters at most."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int):
        if abs(value) < 10**15:
            return str(value)
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"  # str() may refuse it
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def param_of(loc: tuple) -> str | None:
    """pydantic's loc ('messages', 0, 'role') -> OpenAI's param 'messages[0].role'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)[:64]
    return out or None


def code_of(error_type: str) -> str:
    if error_type in OUR_CODES:
        return error_type
    if error_type.endswith(("_type", "_parsing")) or error_type in ("int_from_float", "none_required"):
        return "invalid_type"
    return "invalid_value"


def message_of(error: dict, param: str | None) -> str:
    kind, ctx = error["type"], dict(error.get("ctx") or {})
    name = f"'{param}'" if param else "The request body"
    if kind in OUR_CODES and kind not in PHRASES:  # ours are written to follow the name
        return f"{name} {error['msg']}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NOT_BLANK:
        return f"{name} must not be blank."
    phrase = PHRASES.get(kind)
    if phrase is None:
        return f"{name} is invalid: {error['msg']}."
    ctx["input"] = short(error.get("input"))
    return f"{name} {phrase.format_map(_Missing(ctx))}"


class _Missing(dict):
    def __missing__(self, key: str) -> str:  # a phrase whose context pydantic did not give
        return "?"


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], body: object, **context) -> M:
    """A request body -> the model, or the first of its errors as a 400 in the route's shape."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(body, context=context)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        param = param_of(first["loc"])
        raise BadRequest(message_of(first, param), param, code_of(first["type"])) from None


class Body(BaseModel):
    """The base of every request body model."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def null_means_default(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name is not None:
            field = cls.model_fields[info.field_name]
            if type(None) in typing.get_args(field.annotation):  # only where the type admits null
                return field.get_default(call_default_factory=True)
        return value


# --- field types --------------------------------------------------------------------------------------------

def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fits_a_float(value: Any) -> Any:
    # float(10**400) overflows: pydantic calls it "not a number" (a type error), and it is a number out of range
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e300:
        raise PydanticCustomError("invalid_value", "is far out of range: got {got}.", {"got": short(value)})
    return value


def _in_range(lo: float | None, hi: float | None) -> Any:
    """The bounds, checked on the number as sent, in the API's own words ("between 0.0 and 2.0; got 5", which the
    playground shows as they are), and written into the document as JSON Schema's minimum and maximum."""
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value  # not a number: the type's own check says so
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"between {lo} and {hi}" if lo is not None and hi is not None else \
                f"at least {lo}" if lo is not None else f"at most {hi}"
            raise PydanticCustomError("invalid_value", "must be {bounds}; got {got}.",
                                      {"bounds": bounds, "got": short(value)})
        return value
    schema = {k: v for k, v in (("minimum", lo), ("maximum", hi)) if v is not None}
    return BeforeValidator(check), Field(json_schema_extra=schema)


def integer(lo: int | None = None, hi: int | None = None) -> Any:
    return Annotated[int, BeforeValidator(_integral), *_in_range(lo, hi)]


def number(lo: float | None = None, hi: float | None = None) -> Any:
    return Annotated[float, BeforeValidator(_fits_a_float), *_in_range(lo, hi)]


NonBlank = Annotated[str, Field(min_length=1, pattern=NOT_BLANK)]


def exactly(value: int | bool | str) -> Any:
    """One JSON constant. pydantic's Literal compares with ==, so true would pass for 1 and 0 for false; JSON's
    const (and the document) does not."""
    def same_kind(v: Any) -> Any:
        if isinstance(v, bool) != isinstance(value, bool):
            raise ValueError(f"must be {value!r}")
        return v
    return Annotated[Literal[value], BeforeValidator(same_kind)]


def refuse(message: str, code: str = "invalid_type", keep_ours: bool = True) -> WrapValidator:
    """Any failure of the field as one error with our message, at the field.

    For unions (pydantic reports one error per member, each with the member's type in `loc`, which reads badly)
    and for fields we cannot honour beyond a few harmless values (the type lists those). An error of ours raised
    inside (unsupported_content in a message's parts) is kept, unless keep_ours is False: it says more.
    """
    def wrap(value: Any, handler):
        try:
            return handler(value)
        except ValidationError as e:
            ours = [x for x in e.errors(include_url=False) if x["type"] in OUR_CODES and keep_ours]
            if ours:
                raise PydanticCustomError(ours[0]["type"], ours[0]["msg"]) from None
            raise PydanticCustomError(code, message) from None
    return WrapValidator(wrap)


def unsupported(reason: str) -> WrapValidator:
    return refuse(f"is not supported by this server: {reason}", "unsupported_parameter")
