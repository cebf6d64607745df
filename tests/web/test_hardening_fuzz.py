"""Bad input (issue 9): schemathesis against the live /openapi.json of a gunicorn server, hypothesis
properties of web/openai/protocol.py, and the bodies a fuzzer once turned into 500s, on every JSON POST route.

Over the whole document at least MIN_REQUESTS generated requests, valid ones (by the schema) and, fewer,
invalid ones: none gets a 5xx, every response matches the status codes, content types and schemas the document
declares, every error body has OpenAI's shape ({"error": {"message", "type", "param", "code"}}), or, under /api,
the annotation service's documented one, and no operation refuses what its schema calls valid (schemathesis's
"schema validation mismatch"). Generation requests are capped at a token or two (the fuzzing is about the
input, not the decoding time).

A longer pass: FUZZ_EXAMPLES=2000 python -m pytest -q tests/web/test_hardening_fuzz.py -k schemathesis
(valid examples per operation, as schemathesis run's --max-examples, and a quarter as many invalid ones; 80 by
default: about 2,400 requests in all).
"""
from __future__ import annotations

import json
import math
import os
import re

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)
from schemathesis.generation.modes import GenerationMode

from live_server import KEYS
from web.openai import protocol
from web.errors import BadRequest

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 80)  # valid cases at most, per operation (hypothesis stops
NEGATIVE_EXAMPLES = max(EXAMPLES // 4, 5)  # early where the inputs run out); invalid ones, per operation
MIN_REQUESTS = 12 * EXAMPLES
AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
# /api/train/start would start real fine-tuning jobs (its schema is checked by the tests below and a manual run)
EXCLUDED = r"^/api/train/start$"
GENERATING = {"/v1/completions", "/v1/chat/completions", "/generate", "/chat", "/batch", "/api/generate"}
# statuses that say nothing about the data sent (schemathesis leaves them out of its mismatch warning)
NOT_ABOUT_DATA = {401, 403, 404, 409, 429}
_calls = {"n": 0, "by_status": {}}


@pytest.fixture(scope="module")
def fuzz_server(servers, tmp_path_factory):
    return servers("gunicorn", DATA_DIR=str(tmp_path_factory.mktemp("fuzz-data")), MODEL_CACHE_SIZE="3")


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")


def _cap_tokens(body):
    """At most 2 new tokens: a valid count is lowered, an invalid one (wrong type, < 1) stays to be refused."""
    if not isinstance(body, dict):
        return
    for name in ("max_tokens", "max_completion_tokens", "max_new_tokens"):
        v = body.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 2:
            body[name] = 2
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
        body["max_tokens"] = 1


def check_error_shape(response, path: str) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    if path.startswith("/api/"):  # the annotation service's shape (web/annotate/)
        assert body["status"] == "error" and isinstance(body["message"], str), body
        return
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, body
    assert isinstance(err["message"], str) and err["message"], body
    assert err["type"] in ("invalid_request_error", "server_error"), body
    assert err["param"] is None or isinstance(err["param"], str), body
    assert err["code"] is None or isinstance(err["code"], str), body
    if response.status_code == 503:
        assert int(response.headers["Retry-After"]) >= 1


def rejects_valid_data(statuses: dict[int, int]) -> bool:
    """schemathesis's "schema validation mismatch" (what `schemathesis run` warns about): every generated, valid
    request refused, and 4xx other than NOT_ABOUT_DATA at least a tenth of the 4xx that count."""
    if not statuses or any(code < 400 for code in statuses) or set(statuses) <= {401, 403, 500}:
        return False
    other = sum(n for code, n in statuses.items() if 400 <= code < 500 and code not in NOT_ABOUT_DATA)
    counted = other + statuses.get(404, 0)
    return counted > 0 and other / counted >= 0.1


def _fuzz_operation(operation, mode: GenerationMode, examples: int) -> dict[int, int]:
    statuses: dict[int, int] = {}

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate], derandomize=True, database=None)
    def run(case):
        if case.path in GENERATING:
            _cap_tokens(case.body)
        response = case.call(headers=AUTH, timeout=60)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        _calls["n"] += 1
        _calls["by_status"][response.status_code] = _calls["by_status"].get(response.status_code, 0) + 1
        case.validate_response(response, checks=(not_a_server_error, status_code_conformance,
                                                 content_type_conformance, response_schema_conformance))
        check_error_shape(response, case.path)

    run()
    return statuses


def test_schemathesis(api_schema):
    """(schemathesis's own pytest plugin does not run under pytest 9 yet: each operation is driven here.)"""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if re.match(EXCLUDED, operation.path):
            continue
        try:
            statuses = _fuzz_operation(operation, GenerationMode.POSITIVE, EXAMPLES)
            try:
                _fuzz_operation(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
            except Unsatisfiable:  # nothing of it can be invalid (no body, no parameter, or any string goes)
                pass
        except Exception as e:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {type(e).__name__}: {str(e)[:1500]}")
            continue
        if rejects_valid_data(statuses):
            failures.append(f"{operation.method.upper()} {operation.path}: refuses what its schema calls valid "
                            f"(schema validation mismatch): {statuses}")
    assert not failures, "\n\n".join(failures)


def test_schemathesis_request_count(fuzz_server):
    """Runs after the generated tests (file order): they sent enough requests, and the engine is idle again."""
    print(f"schemathesis: {_calls['n']} requests, by status {dict(sorted(_calls['by_status'].items()))}")
    assert _calls["n"] >= MIN_REQUESTS
    h = httpx.get(fuzz_server.url + "/health", timeout=5).json()
    assert all(e["running"] == 0 and e["waiting"] == 0 for e in h["engines"].values()), h


# --- web/openai/protocol.py: any JSON body -> a parsed request or a BadRequest -----------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
FIELDS = ["model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
          "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "seed", "stop",
          "n", "logprobs", "top_logprobs", "ignore_eos", "stream", "stream_options", "user", "tools", "functions",
          "tool_choice", "function_call", "response_format", "best_of", "modalities", "audio", "echo", "suffix"]
message = st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", 1]),
                                 "content": json_values | st.lists(st.fixed_dictionaries(
                                     {"type": st.sampled_from(["text", "image_url"]), "text": json_values}))})
bodies = (json_values
          | st.dictionaries(st.sampled_from(FIELDS), json_values)
          | st.fixed_dictionaries({"messages": st.lists(message, max_size=3), "prompt": json_values},
                                  optional={k: json_values for k in FIELDS if k not in ("messages", "prompt")}))


@pytest.mark.parametrize("parse", [protocol.parse_completion, protocol.parse_chat], ids=["completion", "chat"])
@given(body=bodies)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_protocol_parses_or_refuses(parse, body):
    try:
        req = parse(body, 4096)
    except BadRequest as e:
        assert e.status == 400 and e.message
        assert e.param is None or isinstance(e.param, str)
        json.dumps(e.body())  # always serialisable
        return
    assert isinstance(req, protocol.GenerationRequest)
    assert 1 <= req.max_tokens <= 4096 and 1 <= req.n <= protocol.MAX_N
    for name in ("temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty"):
        lo, hi = protocol.RANGES[name]
        assert lo <= getattr(req, name) <= hi and math.isfinite(getattr(req, name))
    req.sampling_params(0)  # what the engine gets is buildable too


@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
@settings(max_examples=200, deadline=None)
def test_protocol_on_any_decoded_json(raw):
    """Whatever bytes decode to (json.loads as request_body.read_json does), the parsers answer a request or a 400."""
    try:
        body = json.loads(raw)
    except ValueError:
        return
    for parse in (protocol.parse_completion, protocol.parse_chat):
        try:
            parse(body)
        except BadRequest:
            pass


# --- the bodies that were 500s, on every JSON POST route (in-process) ----------------------------------------

CHAT_MESSAGES = [{"role": "user", "content": "x"}]
# a valid body per route; each case below spoils one part of it
ROUTES = {
    "/v1/completions": {"prompt": "x", "max_tokens": 1},
    "/v1/chat/completions": {"messages": CHAT_MESSAGES, "max_tokens": 1},
    "/generate": {"prompt": "x", "max_tokens": 1},
    "/chat": {"messages": CHAT_MESSAGES, "max_tokens": 1},
    "/batch": {"prompts": ["x"], "max_tokens": 1},
    "/tokenize": {"prompt": "x"},
    "/detokenize": {"tokens": [1]},
    "/api/model/load": {},
    "/api/generate": {"message": "x"},
    "/api/dataset/add": {"human_input": "q", "chosen": "a", "rejected": "b"},
    "/api/train/start": {"steps": 1},
}
# a number field per route (a string or token-id field where the route has none), and its param
NUMBER_FIELD = {"/tokenize": "prompt", "/detokenize": "tokens", "/api/generate": "message",
                "/api/dataset/add": "human_input", "/api/train/start": "lr"}
HUGE = "1" * 400
# the strings a lone surrogate was tried in: (route, JSON body text with "\ud800" escaped, the param it names)
SURROGATES = [
    ("/v1/completions", '{"model": "m\\ud800", "prompt": "x"}', "model"),
    ("/v1/completions", '{"prompt": ["ok", "a\\ud800"]}', "prompt[1]"),
    ("/v1/completions", '{"prompt": "x", "stop": ["\\udfff"]}', "stop[0]"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages[0].content"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud83d"}]}]}',
     "messages[0].content[0].text"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "x", "name": "\\ud800"}]}',
     "messages[0].name"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "x"}], "user": "\\ud800"}', "user"),
    ("/generate", '{"prompt": "\\ud800"}', "prompt"),
    ("/chat", '{"messages": [{"role": "system", "content": "\\ud800"}]}', "messages[0].content"),
    ("/batch", '{"prompts": ["\\ud800"]}', "prompts[0]"),
    ("/tokenize", '{"prompt": "\\ud800"}', "prompt"),
    ("/detokenize", '{"model": "\\ud800", "tokens": [1]}', "model"),
    ("/api/model/load", '{"system_prompt": "\\ud800"}', "system_prompt"),
    ("/api/model/load", '{"model": "\\ud800"}', "model"),
    ("/api/generate", '{"message": "\\ud800"}', "message"),
    ("/api/generate", '{"message": "x", "context": [{"role": "user", "content": "\\ud800"}]}',
     "context[0].content"),
    ("/api/dataset/add", '{"human_input": "\\ud800", "chosen": "a", "rejected": "b"}', "human_input"),
    ("/api/dataset/add", '{"human_input": "q", "chosen": "\\ud800", "rejected": "b"}', "chosen"),
    ("/api/dataset/add", '{"human_input": "q", "chosen": "a", "rejected": "\\udc00"}', "rejected"),
    ("/api/dataset/add", '{"human_input": "q", "chosen": "a", "rejected": "b", "context": '
                         '[{"role": "assistant", "content": "\\ud800"}]}', "context[0].content"),
    ("/api/dataset/add", '{"human_input": "q", "chosen": "a", "rejected": "b", "system_prompt": "\\ud800"}',
     "system_prompt"),
    ("/api/train/start", '{"name": "\\ud800"}', "name"),
    ("/api/train/start", '{"steps": 1, "\\ud800": 1}', None),  # even a key of a field nobody reads
]


def post(client, path: str, text: str):
    return client.post(path, data=text, headers={**AUTH, "Content-Type": "application/json"})


def check_400(r, path: str, param: str | None = None, code: str | None = None, status: int = 400) -> None:
    """A 4xx in the route's own shape: the annotation envelope under /api, OpenAI's elsewhere."""
    assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    if path.startswith("/api/"):
        assert body["status"] == "error" and body["data"] is None and body["detail"] == body["message"], body
        assert param is None or f"'{param}'" in body["message"], body
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert param is None or body["error"]["param"] == param, body
        assert code is None or body["error"]["code"] == code, body
    assert len(r.get_data()) < 1000  # the input is never echoed back


@pytest.fixture
def flask_client(make_app):
    return make_app().test_client()


@pytest.mark.parametrize("path", ROUTES)
def test_deep_nesting_is_invalid_json(flask_client, path):
    deep = "[" * 10_000 + "]" * 10_000
    check_400(post(flask_client, path, json.dumps(ROUTES[path])[:-1] + (", " if ROUTES[path] else "") +
                   f'"deep": {deep}}}'), path, code="invalid_json")
    moderately = "[" * 200 + "]" * 200  # parses, but nests past request_body.MAX_DEPTH
    check_400(post(flask_client, path, f'{{"deep": {moderately}}}'), path, code="invalid_json")


@pytest.mark.parametrize("path", ROUTES)
def test_an_integer_of_5000_digits_is_invalid_json(flask_client, path):
    text = json.dumps(ROUTES[path])[:-1] + (", " if ROUTES[path] else "") + f'"big": {"7" * 5000}}}'
    check_400(post(flask_client, path, text), path, code="invalid_json")


@pytest.mark.parametrize("path", ROUTES)
def test_a_400_digit_integer_in_a_number_field(flask_client, path):
    field = NUMBER_FIELD.get(path, "temperature")
    value = f"[{HUGE}]" if field == "tokens" else HUGE
    text = json.dumps({**ROUTES[path], field: 0})[:-1].replace(f'"{field}": 0', f'"{field}": {value}') + "}"
    check_400(post(flask_client, path, text), path, field if field != "tokens" else "tokens[0]")


@pytest.mark.parametrize("path,template", [
    ("/v1/chat/completions", {"messages": [{"role": None, "content": "x"}]}),
    ("/chat", {"messages": [{"role": None, "content": "x"}]}),
    ("/tokenize", {"messages": [{"role": None, "content": "x"}]}),
    ("/api/generate", {"message": "x", "context": [{"role": None, "content": "x"}]}),
    ("/api/dataset/add", {**ROUTES["/api/dataset/add"], "context": [{"role": None, "content": "x"}]}),
])
@pytest.mark.parametrize("role", [{}, [], {"a": [1]}])
def test_an_unhashable_role_names_the_field(flask_client, path, template, role):
    body = json.loads(json.dumps(template))
    (body.get("messages") or body["context"])[0]["role"] = role
    check_400(post(flask_client, path, json.dumps(body)), path, "messages[0].role" if "messages" in body else
              "context[0].role")


@pytest.mark.parametrize("path,text,param", SURROGATES, ids=[f"{p}-{n}" for p, _, n in SURROGATES])
def test_a_lone_surrogate_names_the_field(flask_client, path, text, param):
    check_400(post(flask_client, path, text), path, param, "invalid_value" if param else None)


def test_invalid_utf8_and_empty_bodies(flask_client):
    for path in ROUTES:
        check_400(post(flask_client, path, b'{"prompt": "\xff"}'), path, code="invalid_json")
        if not path.startswith("/api/"):  # an empty /api body means {}: every field's default
            check_400(post(flask_client, path, ""), path, code="invalid_json")
