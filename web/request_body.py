"""What a request sends, read one way for every route: ?flag=true query flags, and the JSON body of every JSON
POST route (/v1, the simple API, /tokenize, /api): the whole body, chunked or not, up to MAX_REQUEST_BYTES (413
past it), parsed so that no body a client can send becomes a 500.

- A chunked body (Transfer-Encoding: chunked) has no Content-Length: werkzeug's request.stream stops at the
  limit without a word (the cut body then reads as bad JSON) and get_json only reads bodies with a length. Here
  the server's input, which gunicorn and werkzeug both end at the last chunk (wsgi.input_terminated), is read
  to its end or to one byte past the limit.
- json.loads raises RecursionError on deep nesting and ValueError on an integer literal of more than 4,300
  digits (sys.get_int_max_str_digits): both are the client's invalid JSON.
- Nesting deeper than MAX_DEPTH is refused too: no body of ours comes near it (a chat UI's tool schemas nest
  about ten deep), and what reads a body later (pydantic, json.dumps into the database) recurses.
- A lone surrogate ("\\ud800" in JSON) is valid JSON but not Unicode text: it cannot be encoded as UTF-8, so
  sqlite, werkzeug and our own JSON responses fail on it later. It is refused here, naming where it is, in any
  string or key of the body, so nothing downstream ever sees one.
"""
from __future__ import annotations

import json
import re

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import BadRequest
from .validation import param_of

MAX_DEPTH = 64
READ_CHUNK = 64 * 1024
SURROGATE = re.compile("[\ud800-\udfff]")


def query_flag(name: str) -> bool:
    """A ?name=true query flag (also 1 or yes, in any case); anything else, or none, is false."""
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def read_json(empty: object = None) -> object:
    """The request's JSON body; `empty` (when given) stands for a body of nothing at all."""
    raw = _read_all()
    if empty is not None and not raw.strip():
        return empty
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadRequest("The request body is not valid JSON: it nests too deeply.", code="invalid_json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"The request body is not valid JSON: {str(e)[:200]}", code="invalid_json") from None
    except ValueError:  # the only other ValueError of json.loads: int(literal) past the digit limit
        raise BadRequest("The request body is not valid JSON here: it holds an integer of more than 4300 digits.",
                         code="invalid_json") from None
    check_text(body)
    return body


def _read_all() -> bytes:
    if request.content_length is not None:
        return request.get_data(cache=False)  # werkzeug answers 413 past the limit before reading a byte
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # a server that does not end a body without a length: it cannot be read safely
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    stream = request.environ["wsgi.input"]
    parts, size = [], 0
    while True:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge()


def check_text(body: object) -> None:
    """400 for nesting past MAX_DEPTH or a lone surrogate in any string or key (iterative: no recursion)."""
    stack = [(body, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            raise BadRequest(f"The request body nests more than {MAX_DEPTH} levels deep.", code="invalid_json")
        if isinstance(value, str):
            if SURROGATE.search(value):
                _surrogate(loc, "holds")
        elif isinstance(value, dict):
            for key in value:
                if SURROGATE.search(key):
                    _surrogate(loc, "has a key that holds")
            stack.extend((v, (*loc, k)) for k, v in reversed(value.items()))
        elif isinstance(value, list):  # numbers need no look (a prompt of token ids holds thousands)
            inner = [(i, v) for i, v in enumerate(value) if type(v) in (str, dict, list)]
            stack.extend((v, (*loc, i)) for i, v in reversed(inner))


def _surrogate(loc: tuple, what: str):
    param = param_of(loc)
    name = f"'{param}'" if param else "The request body"
    raise BadRequest(f"{name} {what} a lone surrogate (\\ud800-\\udfff): it is not Unicode text.", param,
                     "invalid_value")
