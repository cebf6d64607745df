"""The preference-annotation API under /api (the routes and shapes of the annotation service our users come
from): the blueprint, its envelopes and field checks, the datasets, training jobs and the /annotate page.
Model load/unload/status and /api/generate are in annotate_model.py, the log WebSocket in annotate_ws.py.

Replies are {"status": "success"|"error", "message", "data"}; errors also carry that service's "detail". Keys are
checked as on /v1. The loaded model and its generation settings belong to this worker (as /v1's model cache
does; one worker per GPU is the recommended setup); the datasets and training jobs live in DATA_DIR and are
shared by every worker.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, current_app, make_response, render_template, request

from . import annotate_text as text
from . import chat_format
from .annotate_jobs import JobConflict, Trainer
from .annotate_store import DATASETS, Store
from .config import DEFAULT_API_KEY
from .errors import APIError, BadRequest

bp = Blueprint("annotate", __name__)
ROLES = ("user", "assistant")
EXPORTS = {"trl": text.to_trl, "llamafactory": text.to_llamafactory}


class Conflict(APIError):
    status = 409
    type = "invalid_request_error"


@dataclass
class Settings:
    """What POST /api/model/load sets for /api/generate (defaults: the annotation service's)."""

    model: str | None = None
    enable_thinking: bool = True
    show_thinking: bool = True
    mode: str = "single"
    num_responses: int = 4
    temperature: float = 0.85
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.15
    max_new_tokens: int = 150  # the server's default max_tokens; a small GPT rarely stays on topic longer
    system_prompt: str = ""


@dataclass
class Annotate:
    store: Store
    trainer: Trainer
    settings: Settings | None = None  # None: no model loaded
    loading: str | None = None  # the model being loaded


def _svc():
    return current_app.extensions["nanogpt"]


def _ann() -> Annotate:
    return current_app.extensions["annotate"]


def ok(message: str, data=None, **top) -> dict:
    return {"status": "success", "message": message, "data": data, **top}


@bp.errorhandler(APIError)
def _error(e: APIError):
    return {"status": "error", "message": e.message, "data": None, "detail": e.message}, e.status, e.headers


@bp.before_request
def authenticate():
    if request.method == "OPTIONS" or request.endpoint == "annotate.page":
        return
    auth = request.headers.get("Authorization")
    if auth is None and request.endpoint == "annotate.train_logs" and request.args.get("key"):
        auth = "Bearer " + request.args["key"]  # a browser cannot set headers on a WebSocket
    _svc().keys.check(auth)


# --- request fields ---------------------------------------------------------------------------------------

def _body() -> dict:
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def _num(b: dict, name: str, default, lo, hi, integer: bool = False):
    v = b.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
            (integer and not float(v).is_integer()):
        raise BadRequest(f"'{name}' must be {'an integer' if integer else 'a number'}.", name, "invalid_type")
    if not lo <= v <= hi:
        raise BadRequest(f"'{name}' must be between {lo} and {hi}; got {v}.", name, "invalid_value")
    return int(v) if integer else float(v)


def _str(b: dict, name: str, required: bool = False, default: str | None = None) -> str | None:
    v = b.get(name)
    if v is None or (v == "" and not required):
        if required:
            raise BadRequest(f"'{name}' is required.", name, "missing")
        return default
    if not isinstance(v, str) or (required and not v.strip()):
        raise BadRequest(f"'{name}' must be a non-empty string.", name, "invalid_type")
    return v


def _bool(b: dict, name: str, default: bool) -> bool:
    v = b.get(name)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise BadRequest(f"'{name}' must be true or false.", name, "invalid_type")
    return v


def _context(b: dict) -> list[dict]:
    v = b.get("context") or []
    if not isinstance(v, list) or not all(isinstance(m, dict) and m.get("role") in ROLES and
                                          isinstance(m.get("content"), str) for m in v):
        raise BadRequest("'context' must be a list of {role: user|assistant, content: string}.", "context",
                         "invalid_type")
    return [{"role": m["role"], "content": m["content"]} for m in v]


def _choice(b: dict, name: str, options, default: str) -> str:
    v = b.get(name) or default
    if v not in options:
        raise BadRequest(f"'{name}' must be one of {', '.join(options)}; got {v!r}.", name, "invalid_value")
    return v


# --- datasets ---------------------------------------------------------------------------------------------

@bp.post("/api/dataset/add")
def dataset_add():
    b, ann = _body(), _ann()
    s = ann.settings or Settings()
    mode = _choice(b, "mode", ("single", "multi"), s.mode)
    rec = {"human_input": _str(b, "human_input", required=True), "chosen": _str(b, "chosen", required=True),
           "chosen_thinking": _str(b, "chosen_thinking"), "context": _context(b),
           "system_prompt": _str(b, "system_prompt", default=s.system_prompt or None), "model": s.model}
    if mode == "single":
        rec.update(rejected=_str(b, "rejected", required=True), rejected_thinking=_str(b, "rejected_thinking"))
    dataset = "preference" if mode == "single" else "roleplay"
    new_id, total = ann.store.add(dataset, rec)  # committed and fsynced before we answer
    what = "preference" if mode == "single" else "conversation"
    return ok(f"Added a {what} record; {total} in total", {"id": new_id, "dataset": dataset, "total": total,
                                                           "file": str(ann.store.path)})


@bp.get("/api/dataset/stats")
def dataset_stats():
    ann = _ann()
    counts = ann.store.counts()
    return ok("Dataset statistics", {d: {"file": str(ann.store.path), "count": counts[d]} for d in DATASETS})


@bp.get("/api/dataset/list")
def dataset_list():
    ann = _ann()
    dataset = _choice(dict(request.args), "dataset", DATASETS, "preference")
    limit = _num({"limit": _int_arg("limit")}, "limit", 10, 1, 10_000, integer=True)
    items = ann.store.list(dataset, limit)
    return ok(f"{len(items)} records", {"dataset": dataset, "total": ann.store.counts()[dataset], "items": items})


def _int_arg(name: str):
    v = request.args.get(name)
    try:
        return None if v is None else int(v)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer.", name, "invalid_type") from None


@bp.get("/api/dataset/export")
def dataset_export():
    """JSONL: trl (conversational prompt/chosen/rejected), llamafactory (sharegpt), text (rendered transcript)."""
    ann, svc = _ann(), _svc()
    fmt = _choice(dict(request.args), "format", ("trl", "llamafactory", "text"), "trl")
    dataset = _choice(dict(request.args), "dataset", DATASETS, "preference")
    records = ann.store.list(dataset, newest_first=False)
    if fmt == "text":
        model = request.args.get("model") or (ann.settings.model if ann.settings else None)
        chat = _chat_format(svc.registry.resolve(model)[1])
        rows = [text.to_text(r, chat) for r in records]
    else:
        rows = [EXPORTS[fmt](r) for r in records]
    return Response(text.jsonl(rows), mimetype="application/jsonl",
                    headers={"Content-Disposition": f'attachment; filename="{dataset}-{fmt}.jsonl"'})


def _chat_format(path: Path) -> chat_format.ChatFormat:
    return chat_format.for_checkpoint(path, _svc().registry.default_chat)


# --- training ---------------------------------------------------------------------------------------------

@bp.post("/api/train/start")
def train_start():
    b, ann, svc = _body(), _ann(), _svc()
    method = _choice(b, "method", ("sft", "dpo"), "dpo")
    base = _str(b, "base_model") or _str(b, "model") or (ann.settings.model if ann.settings else None)
    base_id, base_path = svc.registry.resolve(base)
    steps = _num(b, "steps", 100, 1, 1_000_000, integer=True)
    lr = _num(b, "lr", None, 1e-9, 1.0)
    beta = _num(b, "beta", 0.1, 1e-4, 100.0)
    batch_size = _num(b, "batch_size", 8, 1, 1024, integer=True)
    name = _str(b, "name")
    if name is not None and len(name) > 100:  # it names a folder in MODEL_DIR: past NAME_MAX, mkdir fails (500)
        raise BadRequest("'name' is at most 100 characters long.", "name", "invalid_value")
    records = ann.store.list("preference", newest_first=False)
    if method == "sft":
        records += ann.store.list("roleplay", newest_first=False)
    if not records:
        raise BadRequest(f"There is nothing to train on: add {'preference ' if method == 'dpo' else ''}records "
                         "with POST /api/dataset/add first.", code="no_data")
    chat = _chat_format(base_path)
    data = text.jsonl(text.to_text(r, chat) for r in records)
    st = ann.trainer.state()
    if st.get("status") == "running":
        raise Conflict(f"Training job {st['id']} is running; stop it first.", code="training_running")
    from . import annotate_model
    if annotate_model.on_gpu():  # the trainer needs the GPU memory that served models hold: free them, or refuse
        busy = [m.id for m in svc.registry.loaded() if not m.engine.idle]
        if busy:
            raise Conflict(f"Models are generating on the GPU ({', '.join(busy)}); retry when they finish.",
                           code="models_busy")
        ann.settings = None
        for m in svc.registry.loaded():
            annotate_model.unload(m.id)
    init = base_path / "ckpt.pt" if base_path.is_dir() and not (base_path / "config.json").is_file() else base_path
    try:
        status = ann.trainer.start(method=method, base_model=base_id, base_path=init,
                                   chat_sidecar=chat_format.sidecar(base_path), data=data, n_records=len(records),
                                   steps=steps, lr=lr, beta=beta, batch_size=batch_size,
                                   device=svc.config.model.device, name=name)
    except JobConflict as e:
        raise Conflict(str(e), code="training_running") from None
    except FileExistsError:
        raise Conflict(f"A model named {name!r} exists already.", "name", "name_taken") from None
    return ok("Training started; follow it on the WebSocket /ws/train/logs", status)


@bp.post("/api/train/stop")
def train_stop():
    ann = _ann()
    was = ann.trainer.state().get("status") == "running"
    status = ann.trainer.stop()
    return ok("Stopping: the job saves its last checkpoint and exits" if was else "No training is running", status)


@bp.get("/api/train/status")
def train_status():
    status = _ann().trainer.status()
    return ok(status["status"], status)


# the page's own policy: the playground's, plus WebSocket connections back to this server
CSP = ("default-src 'self'; connect-src 'self' * ws: wss:; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@bp.get("/annotate")
def page():
    """The annotation page; public like the playground (the key is typed into it)."""
    cfg = _svc().config
    resp = make_response(render_template("annotate.html", page={
        "default_key": DEFAULT_API_KEY if cfg.default_key else None,  # public anyway: the warning prints it
        "default_model": _svc().registry.default_id}))
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def init_app(app) -> None:
    """Register the annotation API, its WebSocket and the /annotate page."""
    from . import annotate_model, annotate_ws  # noqa: F401  (importing them adds their routes to bp)
    cfg = app.extensions["nanogpt"].config
    app.extensions["annotate"] = Annotate(Store(cfg.data_dir), Trainer(cfg.data_dir, cfg.model_dir))
    app.register_blueprint(bp)
