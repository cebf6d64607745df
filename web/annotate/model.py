"""/api/model/* and /api/generate: the model annotators compare candidates of, and the candidates.

The model is loaded into this worker's registry (engine/registry.py), so /v1 serves it too; the candidates of one
message are one submission of n sequences, which the engine decodes side by side in one batch.
"""
from __future__ import annotations

from model.loader import resolve_device
from model.sampling import SamplingParams
from model.tokenizer import TokenizerError

from engine import Failure, Message, ModelNotFound

from ..errors import BadRequest, Conflict, generation_error
from ..request_body import query_flag
from . import text
from .common import annotation, bp, ok, read_body, services
from .schemas import CandidatesBody, GenerationSettings


def on_gpu() -> bool:
    try:
        return resolve_device(services().config.model.device).type == "cuda"
    except RuntimeError:
        return False


# --- model ------------------------------------------------------------------------------------------------

@bp.post("/api/model/load")
def load_model():
    # validate, then apply: nothing is stored unless the whole body is valid and the model loads
    settings, svc, ann = read_body(GenerationSettings), services(), annotation()
    model_id = svc.registry.resolve(settings.model)[0]  # 404 for an unknown id; none: the default model
    s = settings.model_copy(update={"model": model_id})
    st = ann.trainer.state()
    if st.get("status") == "running" and on_gpu():
        raise Conflict(f"Training job {st['id']} is using the GPU; stop it or wait for it to finish.",
                       code="training_running")
    ann.loading = s.model
    try:
        served = svc.registry.get(s.model)  # off the event loop; 400 for an unreadable checkpoint
    finally:
        ann.loading = None
    ann.settings = s
    return ok(f"Model loaded: {s.model}", {"model": s.model, "config": s.model_dump(),
                                           "device": str(served.engine.lm.device)})


@bp.post("/api/model/unload")
def unload_model():
    """409 while the model has work in flight (other users' /v1 requests too), unless ?force=true."""
    ann = annotation()
    model = ann.settings.model if ann.settings else None
    freed = unload(model, query_flag("force")) if model else False
    ann.settings = None
    return ok("Model unloaded; its memory is released" if freed else "No model was loaded", {"model": model})


def unload(model_id: str, force: bool = False) -> bool:
    """Drop a model from this worker and give its memory back; engine.ModelBusy while it has work in flight."""
    try:
        return services().registry.unload(model_id, force)
    except ModelNotFound:  # its file went away: nothing of it is cached under that id any more
        return False


@bp.get("/api/model/status")
def model_status():
    ann = annotation()
    loaded = ann.settings is not None
    gpus = {f"gpu_{g['index']}": {"name": g.get("name"),
                                   "memory_allocated_gb": round(g["memory_allocated"] / 2**30, 3),
                                   "memory_reserved_gb": round(g["memory_reserved"] / 2**30, 3),
                                   "memory_total_gb": round(g.get("memory_total", 0) / 2**30, 3)}
            for g in services().registry.gpu_memory()}
    data = {"model_loaded": loaded, "model_loading": ann.loading is not None, "loaded": loaded,
            "loading": ann.loading is not None, "model": ann.settings.model if loaded else ann.loading,
            "config": ann.settings.model_dump() if loaded else None, "gpu_info": gpus}
    return ok("loaded" if loaded else "loading" if ann.loading else "not loaded", data)


# --- generation -------------------------------------------------------------------------------------------

@bp.post("/api/generate")
def generate():
    b, ann, svc = read_body(CandidatesBody), annotation(), services()
    s = ann.settings
    if s is None:  # 409: a valid request the server's state cannot serve yet
        raise Conflict("No model is loaded: POST /api/model/load first.", code="model_not_loaded")
    served = svc.registry.get(s.model)
    msgs = ([Message("system", s.system_prompt)] if s.system_prompt else []) + \
        [Message(t.role, t.content) for t in b.context] + [Message("user", b.message)]
    prompt, opened = text.generation_prompt(served.chat, msgs, s.enable_thinking)
    tok = served.tokenizer
    try:
        ids = tok.encode(prompt) or [tok.eot_id]
    except TokenizerError as e:
        raise BadRequest(f"The model's tokenizer cannot encode the message: {e}", "message") from None
    if len(ids) > svc.config.max_prompt_tokens:
        raise BadRequest(f"The conversation is {len(ids)} tokens long; the limit is {svc.config.max_prompt_tokens} "
                         f"(MAX_PROMPT_TOKENS).", "message", "prompt_too_long")
    params = SamplingParams(max_tokens=s.max_new_tokens, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                            repetition_penalty=s.repetition_penalty, stop=served.chat.stop)
    # one submission of n sequences: the engine decodes the candidates side by side in one batch
    req = served.engine.submit([ids] * s.num_responses, [params] * s.num_responses)
    texts = [""] * s.num_responses
    try:
        for out in req.outputs():
            if isinstance(out, Failure):
                raise generation_error(out.error)
            texts[out.choice] += out.text
    finally:
        req.close()
    responses = []
    for i, t in enumerate(texts):
        thinking, content = text.split_thinking(t, served.chat, opened)
        r = {"id": i + 1, "content": content}
        if thinking is not None and s.show_thinking:
            r["thinking"] = thinking
        responses.append(r)
    # the service we keep put `responses` at the top level; clients of it read it there
    return ok(f"{len(responses)} candidates", {"responses": responses, "model": s.model}, responses=responses)
