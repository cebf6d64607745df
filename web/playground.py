"""GET /: the browser playground (templates/playground.html, static/playground.js).

The page is public: it holds no secrets, and the key is typed into it and sent by the page's own fetch calls.
Every slider's bounds and default are rendered from the API's own (protocol.RANGES, the GenerationRequest
defaults, ServerConfig.max_tokens_limit), so the page cannot drift from what the API accepts.
"""
from __future__ import annotations

import dataclasses
import math

from flask import Blueprint, current_app, make_response, render_template, request, url_for

from .simple import routes as simple_routes
from .config import DEFAULT_API_KEY
from .openai.protocol import MAX_STOP, RANGES, GenerationRequest

bp = Blueprint("playground", __name__)

# (name, label, step, hint), in the order the panel shows them
SLIDERS = (
    ("max_tokens", "Max tokens", 1, "The most tokens per answer."),
    ("temperature", "Temperature", 0.05, "0 is greedy; higher is more random."),
    ("top_k", "Top-K", 1, "Sample from the K most likely tokens; 0 is off."),
    ("top_p", "Top-P", 0.01, "Sample from the smallest set of tokens reaching this probability."),
    ("min_p", "Min-P", 0.01, "Drop tokens less likely than this fraction of the best one."),
    ("presence_penalty", "Presence penalty", 0.05, "Discourage any token already generated."),
    ("frequency_penalty", "Frequency penalty", 0.05, "Discourage tokens by how often they were generated."),
    ("repetition_penalty", "Repetition penalty", 0.05, "Above 1 discourages tokens of the prompt and output."),
    ("n", "Candidates (n)", 1, "Answers generated side by side."),
)
# The API takes top_k up to 2**30 and -1 for "off"; a slider over that range is useless, so the slider spans
# 0..200 while its number box still accepts anything the API does.
SLIDER_BOUNDS = {"top_k": (0, 200)}
# Model text only ever reaches the page as textContent; the policy is the second line of defence (no inline
# script runs), and connect-src stays open because the API base field may point at another server.
CSP = ("default-src 'self'; connect-src *; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _defaults() -> dict:
    return {f.name: f.default for f in dataclasses.fields(GenerationRequest)
            if f.default is not dataclasses.MISSING}


def _snap(value: float, step: float, up: bool) -> float:
    # a range input only holds min + k*step; an API bound like 1e-6 would make every value odd (1.000001)
    k = value / step
    return round((math.ceil(k - 1e-9) if up else math.floor(k + 1e-9)) * step, 6)


def controls(max_tokens_limit: int) -> list[dict]:
    """The sliders as the template renders them."""
    defaults = _defaults()
    ranges = {**RANGES, "max_tokens": (1, max_tokens_limit)}
    out = []
    for name, label, step, hint in SLIDERS:
        lo, hi = ranges[name]
        s_lo, s_hi = SLIDER_BOUNDS.get(name, (_snap(lo, step, up=True), _snap(hi, step, up=False)))
        integer = isinstance(step, int)
        out.append(dict(name=name, label=label, step=step, hint=hint, lo=lo, hi=hi, slider_lo=s_lo,
                        slider_hi=min(s_hi, hi), default=defaults[name], integer=integer))
    return out


@bp.get("/")
def index():
    """The playground page; the key is entered in the page, never needed to load it."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        # LLaMA-Factory-style clients ask the root for JSON service info (web/simple/routes.py)
        return simple_routes.service_info(), {"Vary": "Accept"}
    cfg = current_app.extensions["nanogpt"].config
    sliders = controls(cfg.max_tokens_limit)
    page = dict(  # what static/playground.js reads from the page's JSON block
        api_path=url_for("openai.index"),
        defaults={c["name"]: c["default"] for c in sliders},
        # the public default key is no secret (the startup warning prints it); prefilled, a fresh install just works
        default_key=DEFAULT_API_KEY if cfg.default_key else None,
    )
    resp = make_response(render_template("playground.html", controls=sliders, page=page,
                                         seed_range=RANGES["seed"], max_stop=MAX_STOP))
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Vary"] = "Accept"  # the same URL answers JSON clients differently: caches must keep both
    return resp
