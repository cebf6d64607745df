"""The preference-annotation API under /api (the routes and shapes of the annotation service our users come
from): the datasets, training jobs and the /annotate page. The blueprint and its envelope are in common.py, model
load/unload/status and /api/generate in model.py, the log WebSocket in ws.py, the bodies' schemas in
schemas.py: each body is validated whole before anything is applied or stored.

Replies are {"status": "success"|"error", "message", "data"}; errors also carry that service's "detail", and
every error under /api/ has that shape (404, 405, 413 and 500 included: envelope). Keys are checked as on /v1.
The loaded model and its generation settings belong to this worker (as /v1's model cache does; one worker per
GPU is the recommended setup); the datasets and training jobs live in DATA_DIR and are shared by every worker.
"""
from __future__ import annotations

from pathlib import Path

from flask import Response, make_response, render_template, request

from engine import chat_format
from engine.registry import checkpoint_file

from ..config import DEFAULT_API_KEY
from ..errors import BadRequest, Conflict
from . import model, text
from .common import annotation, bp, ok, read_body, services
from .jobs import JobConflict
from .schemas import DatasetAddBody, GenerationSettings, TrainStartBody
from .store import DATASETS

EXPORTS = {"trl": text.to_trl, "llamafactory": text.to_llamafactory}


# --- query strings of the GET routes ----------------------------------------------------------------------

def _query_choice(name: str, options, default: str) -> str:
    v = request.args.get(name, default)  # an empty value is a wrong one, not the default
    if v not in options:
        raise BadRequest(f"'{name}' must be one of {', '.join(options)}; got {v[:40]!r}.", name, "invalid_value")
    return v


def _query_int(name: str, default: int, lo: int, hi: int) -> int:
    v = request.args.get(name)
    if v is None:
        return default
    try:
        n = int(v) if len(v) <= 20 else None
    except ValueError:
        n = None
    if n is None or not lo <= n <= hi:
        raise BadRequest(f"'{name}' must be an integer from {lo} to {hi}; got {v[:40]!r}.", name, "invalid_value")
    return n


# --- datasets ---------------------------------------------------------------------------------------------

@bp.post("/api/dataset/add")
def dataset_add():
    b, ann = read_body(DatasetAddBody), annotation()
    s = ann.settings or GenerationSettings()
    mode = b.mode or s.mode
    if mode == "single" and b.rejected is None:
        raise BadRequest("'rejected' is required in single mode.", "rejected", "missing")
    rec = {"human_input": b.human_input, "chosen": b.chosen, "chosen_thinking": b.chosen_thinking or None,
           "context": [t.model_dump() for t in b.context], "model": s.model,
           "system_prompt": b.system_prompt or s.system_prompt or None}
    if mode == "single":
        rec.update(rejected=b.rejected, rejected_thinking=b.rejected_thinking or None)
    dataset = "preference" if mode == "single" else "roleplay"
    new_id, total = ann.store.add(dataset, rec)  # committed and fsynced before we answer
    what = "preference" if mode == "single" else "conversation"
    # the file's name only: where DATA_DIR lies on the server is none of the client's business
    return ok(f"Added a {what} record; {total} in total", {"id": new_id, "dataset": dataset, "total": total,
                                                           "file": ann.store.path.name})


@bp.get("/api/dataset/stats")
def dataset_stats():
    ann = annotation()
    counts = ann.store.counts()
    return ok("Dataset statistics", {d: {"file": ann.store.path.name, "count": counts[d]} for d in DATASETS})


@bp.get("/api/dataset/list")
def dataset_list():
    ann = annotation()
    dataset = _query_choice("dataset", DATASETS, "preference")
    limit = _query_int("limit", 10, 1, 10_000)
    items = ann.store.list(dataset, limit)
    return ok(f"{len(items)} records", {"dataset": dataset, "total": ann.store.counts()[dataset], "items": items})


@bp.get("/api/dataset/export")
def dataset_export():
    """JSONL: trl (conversational prompt/chosen/rejected), llamafactory (sharegpt), text (rendered transcript)."""
    ann, svc = annotation(), services()
    fmt = _query_choice("format", ("trl", "llamafactory", "text"), "trl")
    dataset = _query_choice("dataset", DATASETS, "preference")
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
    return chat_format.for_checkpoint(path, services().registry.default_chat)


# --- training ---------------------------------------------------------------------------------------------

@bp.post("/api/train/start")
def train_start():
    b, ann, svc = read_body(TrainStartBody), annotation(), services()
    base = b.base_model or b.model or (ann.settings.model if ann.settings else None)
    base_id, base_path = svc.registry.resolve(base)
    records = ann.store.list("preference", newest_first=False)
    if b.method == "sft":
        records += ann.store.list("roleplay", newest_first=False)
    if not records:  # 409: the request is fine, the datasets are not there yet
        raise Conflict(f"There is nothing to train on: add {'preference ' if b.method == 'dpo' else ''}records "
                       "with POST /api/dataset/add first.", code="no_data")
    chat = _chat_format(base_path)
    data = text.jsonl(text.to_text(r, chat) for r in records)
    st = ann.trainer.state()
    if st.get("status") == "running":
        raise Conflict(f"Training job {st['id']} is running; stop it first.", code="training_running")
    if model.on_gpu():  # the trainer needs the GPU memory that served models hold: free them, or refuse
        busy = [m.id for m in svc.registry.loaded() if not m.engine.idle]
        if busy:
            raise Conflict(f"Models are generating on the GPU ({', '.join(busy)}); retry when they finish.",
                           code="models_busy")
        ann.settings = None
        for m in svc.registry.loaded():
            model.unload(m.id)
    try:
        status = ann.trainer.start(method=b.method, base_model=base_id, base_path=checkpoint_file(base_path),
                                   chat_sidecar=chat_format.sidecar(base_path), data=data, n_records=len(records),
                                   steps=b.steps, lr=b.lr, beta=b.beta, batch_size=b.batch_size,
                                   device=svc.config.model.device, name=b.name)
    except JobConflict as e:
        raise Conflict(str(e), code="training_running") from None
    except FileExistsError:
        raise Conflict(f"A model named {b.name!r} exists already.", "name", "name_taken") from None
    return ok("Training started; follow it on the WebSocket /ws/train/logs", status)


@bp.post("/api/train/stop")
def train_stop():
    ann = annotation()
    was = ann.trainer.state().get("status") == "running"
    status = ann.trainer.stop()
    return ok("Stopping: the job saves its last checkpoint and exits" if was else "No training is running", status)


@bp.get("/api/train/status")
def train_status():
    status = annotation().trainer.status()
    return ok(status["status"], status)


# the page's own policy: the playground's, plus WebSocket connections back to this server
CSP = ("default-src 'self'; connect-src 'self' * ws: wss:; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@bp.get("/annotate")
def page():
    """The annotation page; public like the playground (the key is typed into it)."""
    cfg = services().config
    resp = make_response(render_template("annotate.html", page={
        "default_key": DEFAULT_API_KEY if cfg.default_key else None,  # public anyway: the warning prints it
        "default_model": services().registry.default_id}))
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
