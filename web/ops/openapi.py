"""GET /openapi.json (OpenAPI 3.1) and GET /docs (Swagger UI, every asset served by us: no CDN).

The document is built from the app's own url_map, so it lists every route the app has. Each operation's
text and schemas come from OPERATIONS below, keyed by endpoint; a blueprint of another module can instead
give its view an `openapi` attribute (an operation object). A route documented by neither still appears,
from its docstring, and `undocumented(app)` names it (the tests require that list to be empty). Request bodies
are the pydantic models that validate them (openapi_schemas.py). WebSocket routes (/ws/train/logs) are not HTTP
operations, which OpenAPI cannot describe: the document's description names them instead of listing them (a
plain GET there answers 400).
"""
from __future__ import annotations

import re

from flask import Flask, current_app

from .common import bp
from .openapi_schemas import components, ref

TITLE = "nanogpt-serve"
AUTH = [{"bearer": []}]
SKIP_METHODS = {"HEAD", "OPTIONS"}  # werkzeug adds them to every rule; CORS preflights are not API calls


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {"400": "Invalid request: the message (and on /v1 `param`) names the field",
          "404": "Unknown model (GET /v1/models lists them)", "409": "The model has work in flight",
          "413": "Body larger than MAX_REQUEST_BYTES",
          "503": "Busy (queue full or every cached model busy); see Retry-After"}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# the schema of each server-sent event (what OpenAPI 3.2 calls itemSchema; schemathesis validates each event)
SSE = {"text/event-stream": {"schema": {"type": "object", "required": ["data"], "properties": {"data": {
    "type": "string", "description": "With stream: true, `data: {chunk}` events, then `data: [DONE]`"}}}}}


def _op(tag: str, summary: str, ok: dict | None = None, body: str | None = None, auth: bool = True,
        errors: tuple[str, ...] | dict[str, str | None] = (), stream: bool = False, query: tuple[dict, ...] = (),
        envelope: bool = False, body_optional: bool = False) -> dict:
    """One operation: its tag, summary, request body and responses (200 plus the errors it can answer, in
    OpenAI's shape, or the annotation service's with `envelope`). `body_optional`: no body at all means {}
    (the /api routes whose every field has a default)."""
    error = ref("AnnotateError") if envelope else ref("Error")
    ok = dict(ok or {"description": "OK"})
    if stream:
        ok["content"] = {**ok.get("content", {}), **SSE}
    out = {"tags": [tag], "summary": summary, "responses": {"200": ok}}
    codes = dict.fromkeys(errors) if isinstance(errors, tuple) else dict(errors)
    if body:
        out["requestBody"] = {"required": not body_optional, "content": {"application/json": {"schema": ref(body)}}}
        codes = {"400": None, "413": None, **codes}
    if query:
        out["parameters"] = list(query)
    if auth:
        out["security"] = AUTH
        codes["401"] = "Missing or wrong API key"
    for code, description in codes.items():
        out["responses"][code] = _json(error, description or ERRORS[code])
    return out


def _api(summary: str, data: str = "", **kw) -> dict:
    """An operation of the annotation API: its envelope around `data`."""
    ok = _json(ref("Envelope"), f"OK: data is {data}" if data else "OK")
    return _op("Annotation", summary, ok=ok, envelope=True, **kw)


GEN_ERRORS = ("404", "503")
DATASET = _query("dataset", {"enum": ["preference", "roleplay"], "default": "preference"}, "Which dataset.")
JSONL = {"description": "One JSON object per line", "content": {"application/jsonl": {"schema": {"type": "string"}}}}
HTML = {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
OPERATIONS = {
    ("openai.index", "GET"): _op("OpenAI", "Connectivity check (no key needed)", auth=False, ok=_json(
        {"type": "object", "properties": {"object": {"const": "api"}, "status": {"const": "ok"}}})),
    ("openai.list_models", "GET"): _op("OpenAI", "List models: the default model, then MODEL_DIR",
                                       ok=_json(ref("ModelList"))),
    ("openai.retrieve_model", "GET"): _op("Models", "A model card with its details (format, size, training, "
                                          "device); read from the file when not loaded",
                                          ok=_json(ref("ModelDetails")), errors=("404",)),
    ("openai.completions", "POST"): _op("OpenAI", "Text completion of one or several prompts",
                                        ok=_json(ref("Completion")), body="CompletionBody", errors=GEN_ERRORS,
                                        stream=True),
    ("openai.chat_completions", "POST"): _op("OpenAI", "Chat completion", ok=_json(ref("ChatCompletion")),
                                             body="ChatBody", errors=GEN_ERRORS, stream=True),
    ("ops.load_model", "POST"): _op("Models", "Load a model into the worker that answers",
                                    ok=_json(ref("ModelDetails")), errors=("404", "503")),
    ("ops.unload_model", "POST"): _op("Models", "Unload a model from the worker that answers and free its "
                                      "memory (?force=true fails work in flight)",
                                      ok=_json(ref("ModelDetails")), errors=("404", "409")),
    ("ops.health", "GET"): _op("Operations", "Liveness, loaded models, queue depth, per-GPU memory",
                               ok=_json(ref("Health")), auth=False),
    ("ops.metrics_text", "GET"): _op("Operations", "Prometheus metrics (vLLM's names), summed over workers",
                                     auth=False, ok={"description": "Prometheus text format", "content": {
                                         "text/plain": {"schema": {"type": "string"}}}}),
    ("ops.tokenize", "POST"): _op("Operations", "vLLM's /tokenize: a prompt or chat messages -> token ids",
                                  ok=_json(ref("TokenizeResponse")), body="TokenizeBody", errors=GEN_ERRORS),
    ("ops.detokenize", "POST"): _op("Operations", "vLLM's /detokenize: token ids -> text",
                                    ok=_json(ref("DetokenizeResponse")), body="DetokenizeBody",
                                    errors=GEN_ERRORS),
    ("simple.model_info", "GET"): _op("Simple API", "The default model (or ?model=ID) and its details",
                                      ok=_json(ref("ModelInfo")), errors=("404",)),
    ("simple.generate", "POST"): _op("Simple API", "Complete one prompt -> generated_text",
                                     ok=_json(ref("GenerateResponse")), body="GenerateBody", errors=GEN_ERRORS,
                                     stream=True),
    ("simple.chat", "POST"): _op("Simple API", "Chat -> response", ok=_json(ref("SimpleChatResponse")),
                                 body="SimpleChatBody", errors=GEN_ERRORS, stream=True),
    ("simple.batch", "POST"): _op("Simple API", "Complete several prompts together -> results",
                                  ok=_json(ref("BatchResponse")), body="BatchBody", errors=GEN_ERRORS,
                                  stream=True),
    ("playground.index", "GET"): _op("Pages", "The playground page; JSON service info when the client "
                                     "prefers application/json", auth=False,
                                     ok={**HTML, "content": {**HTML["content"], **_json(ref("ServiceInfo"))[
                                         "content"]}}),
    ("static", "GET"): _op("Pages", "The playground's static files", auth=False, errors=("404",)),
    ("ops.spec", "GET"): _op("Pages", "This document", auth=False, ok=_json({"type": "object"})),
    ("swagger_ui.show", "GET"): _op("Pages", "Swagger UI and its assets (served locally)", auth=False, ok=HTML,
                                    errors=("404",)),
    # the annotation API (web/annotate/api.py, model.py): bodies from web/annotate/schemas.py
    ("annotate.load_model", "POST"): _api("Load a model for annotation and set how candidates are sampled",
                                         "{model, config, device}", body="GenerationSettings", body_optional=True,
                                         errors={"404": None, "409": "A training job is using the GPU",
                                                 "503": None}),
    ("annotate.unload_model", "POST"): _api("Unload the annotation model and free its memory", "{model}"),
    ("annotate.model_status", "GET"): _api("The annotation model, its settings and GPU memory",
                                          "{model_loaded, model_loading, model, config, gpu_info}"),
    ("annotate.generate", "POST"): _api("Candidate replies to a message, decoded side by side in one batch",
                                       "{responses: [{id, content, thinking?}], model}", body="CandidatesBody",
                                       errors={"404": None, "409": "No model is loaded (POST /api/model/load)",
                                               "503": None}),
    ("annotate.dataset_add", "POST"): _api("Store a record (committed to disk before the reply)",
                                          "{id, dataset, total, file}", body="DatasetAddBody"),
    ("annotate.dataset_stats", "GET"): _api("Record counts per dataset", "{preference: {file, count}, roleplay}"),
    ("annotate.dataset_list", "GET"): _api("The newest records", "{dataset, total, items}", errors=("400",),
                                          query=(DATASET, _query("limit", {"type": "integer", "minimum": 1,
                                                                           "maximum": 10_000, "default": 10},
                                                                 "How many records."))),
    ("annotate.dataset_export", "GET"): _op(
        "Annotation", "A dataset as JSONL (TRL, LLaMA-Factory sharegpt, or text in a model's transcript)",
        ok=JSONL, envelope=True, errors=("400", "404"), query=(
            _query("format", {"enum": ["trl", "llamafactory", "text"], "default": "trl"}, "The layout."), DATASET,
            _query("model", {"type": "string"}, "format=text: whose transcript (the loaded model by default)."))),
    ("annotate.train_start", "POST"): _api("Start a fine-tuning job on the datasets (one at a time)",
                                          "the job's status", body="TrainStartBody", body_optional=True, errors={
                                              "404": None, "409": "No records yet, a job running, models busy on "
                                                                  "the GPU, or the name taken"}),
    ("annotate.train_stop", "POST"): _api("Stop the job: it saves its last checkpoint and exits", "the status"),
    ("annotate.train_status", "GET"): _api("The job's status, progress and recent log", "the status"),
    ("annotate.page", "GET"): _op("Pages", "The annotation page (the key is typed into it)", auth=False, ok=HTML),
}


def _path(rule: str) -> tuple[str, list[dict]]:
    """A werkzeug rule -> an OpenAPI path and its path parameters (`<path:model_id>` -> `{model_id}`)."""
    names = []

    def sub(m: re.Match) -> str:
        names.append(m.group(1))
        return "{" + m.group(1) + "}"

    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", sub, rule)
    return path, [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _operation(app: Flask, endpoint: str, method: str) -> dict | None:
    op = OPERATIONS.get((endpoint, method))
    if op is None:
        op = getattr(app.view_functions.get(endpoint), "openapi", None)
    return op


def _http_rules(app: Flask):
    return [r for r in app.url_map.iter_rules() if not r.websocket]


def undocumented(app: Flask) -> list[str]:
    """'METHOD /rule (endpoint)' for each route without an operation of its own."""
    return [f"{m} {r.rule} ({r.endpoint})" for r in _http_rules(app)
            for m in sorted(r.methods - SKIP_METHODS) if _operation(app, r.endpoint, m) is None]


def build(app: Flask) -> dict:
    """The OpenAPI 3.1 document of every route in the app's url_map."""
    paths: dict[str, dict] = {}
    used: set[str] = set()
    for rule in sorted(_http_rules(app), key=lambda r: r.rule):
        path, params = _path(rule.rule)
        for method in sorted(rule.methods - SKIP_METHODS):
            op = _operation(app, rule.endpoint, method)
            if op is None:  # another module's route, not described yet: list it from its docstring
                doc = (app.view_functions[rule.endpoint].__doc__ or rule.endpoint).strip().splitlines()[0]
                op = {"summary": doc, "responses": {"200": {"description": "OK"},
                                                    "default": {"description": "An error, in the route's own shape"}}}
            op = dict(op)
            op_id = re.sub(r"\W", "_", f"{rule.endpoint}_{method.lower()}")
            while op_id in used:  # one view under two rules (/v1 and /v1/)
                op_id += "_"
            used.add(op_id)
            op["operationId"] = op_id
            if params:
                op["parameters"] = params + op.get("parameters", [])
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1",
                 "description": "An OpenAI-compatible server for nanoGPT-style GPT checkpoints. Authorize with "
                                "one of the server's keys (MY_API_KEY) to try the protected routes. Not listed "
                                "(OpenAPI describes no WebSockets): the WebSocket /ws/train/logs?key=KEY, the "
                                "training log of the annotation API (README, \"Preference annotation\")."},
        "paths": paths,
        "components": {"schemas": components(app.extensions["nanogpt"].config.max_tokens_limit),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "Authorization: Bearer <MY_API_KEY>"}}},
    }


@bp.get("/openapi.json")
def spec():
    """The OpenAPI document (public, like the docs page)."""
    return build(current_app)
