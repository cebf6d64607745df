"""Prometheus metrics under vLLM's names, so its Grafana dashboards work on us, and GET /metrics.

Measured on the request side (web/openai/serving.py wraps each engine Request in `track`): that is where a client's
latency is seen, and it keeps bookkeeping out of the engine thread's hot loop. One sequence (one choice of
n) counts as one request, as vLLM counts the n child requests of a fan-out.

Several gunicorn workers: gunicorn_config.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the
workers start, so every worker writes its values to files there and whichever worker answers /metrics sums
them (running/waiting use "livesum": a dead worker's gauges are dropped by gunicorn's child_exit hook). Without
that variable (the dev server, tests in-process) the values live in this process. No Flask here: the route is
in web/ops/tokens.py, and serving stays free of the web framework.
"""
from __future__ import annotations

import bisect
import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from engine import Failure, Output
from engine.request import one_by_one

REGISTRY = CollectorRegistry()  # ours, not the global one: create_app may run many times in one process
LABELS = ("model_name",)

RUNNING = Gauge("vllm:num_requests_running", "Sequences being decoded.", LABELS,
                registry=REGISTRY, multiprocess_mode="livesum")
WAITING = Gauge("vllm:num_requests_waiting", "Sequences submitted and waiting for a decoder slot.", LABELS,
                registry=REGISTRY, multiprocess_mode="livesum")
PROMPT_TOKENS = Counter("vllm:prompt_tokens", "Prompt tokens processed.", LABELS, registry=REGISTRY)
GENERATION_TOKENS = Counter("vllm:generation_tokens", "Tokens generated.", LABELS, registry=REGISTRY)
PREFIX_QUERIES = Counter("vllm:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.", LABELS,
                         registry=REGISTRY)
PREFIX_HITS = Counter("vllm:prefix_cache_hits", "Prompt tokens found in the prefix cache.", LABELS,
                      registry=REGISTRY)
SUCCESS = Counter("vllm:request_success", "Sequences that finished, by finish reason.",
                  LABELS + ("finished_reason",), registry=REGISTRY)
# buckets span a tiny model on a GPU (milliseconds) to a long CPU generation (minutes)
TTFT = Histogram("vllm:time_to_first_token_seconds", "Submission to the first generated token.", LABELS,
                 registry=REGISTRY, buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                                             30.0, 60.0, 120.0))
ITL = Histogram("vllm:inter_token_latency_seconds", "Time between two tokens of one sequence.", LABELS,
                registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.15, 0.25, 0.5,
                                            1.0, 2.5, 5.0))
E2E = Histogram("vllm:e2e_request_latency_seconds", "Submission to the last token of a sequence.", LABELS,
                registry=REGISTRY, buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0,
                                            300.0, 600.0, 1800.0))


ITL_FLUSH_S = 1.0  # a long stream's ITL samples reach /metrics at least this often


class PendingObservations:
    """Observations of one histogram child, counted here and added to it in one go by flush().

    One sample per token of every stream: at 36k tok/s on an H200, observe() per token took 12% of the gunicorn
    worker (py-spy, PERFORMANCE.md), since each costs two writes to prometheus's multiprocess files (2.8 µs on
    this project's EPYC). Counting locally costs a bisect; flush() makes one write per bucket touched and one for
    the sum. prometheus_client has no observe-with-a-count, so flush() adds to the child's bucket and sum values
    as its observe() does (tests/web/test_metrics.py holds the two to the same exposition)."""

    def __init__(self, child) -> None:
        self._child = child
        self._bounds = child._upper_bounds
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self.flushed = time.monotonic()

    def observe(self, amount: float, count: int = 1) -> None:
        self._counts[bisect.bisect_left(self._bounds, amount)] += count
        self._sum += amount * count

    def flush(self) -> None:
        self.flushed = time.monotonic()
        if not any(self._counts):
            return
        self._child._sum.inc(self._sum)
        for bucket, count in zip(self._child._buckets, self._counts):
            if count:
                bucket.inc(count)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0


class _Choice:
    __slots__ = ("last", "n_tokens", "done")

    def __init__(self):
        self.last: float | None = None  # when its latest token arrived; None while it waits for a slot
        self.n_tokens = 0
        self.done = False


class TrackedRequest:
    """The engine's Request as serving.py uses it (outputs(), batches(), close()), observed on the way through.

    Times are taken when the request side reads the outputs, which is what its client sees. Outputs read in one
    batch arrived together: a choice's k tokens of one batch share the gap since its previous token (k ITL
    samples of gap/k), so token counts, the number of ITL samples and their sum stay exact."""

    def __init__(self, request, model_id: str, prompt_tokens: int):
        self._request = request
        self._start = time.monotonic()
        self._choices = [_Choice() for _ in request.prompts]
        self._closed = False
        # the labelled children, looked up once: labels() takes a lock and a dict lookup on every call
        self._running, self._waiting = RUNNING.labels(model_id), WAITING.labels(model_id)
        self._ttft, self._e2e = TTFT.labels(model_id), E2E.labels(model_id)
        self._itl = PendingObservations(ITL.labels(model_id))
        self._generated = GENERATION_TOKENS.labels(model_id)
        self._prefix_queries, self._prefix_hits = PREFIX_QUERIES.labels(model_id), PREFIX_HITS.labels(model_id)
        self._model = model_id
        PROMPT_TOKENS.labels(model_id).inc(prompt_tokens)
        self._waiting.inc(len(self._choices))

    def outputs(self, keepalive: float | None = None):
        return one_by_one(self.batches(keepalive))

    def batches(self, keepalive: float | None = None):
        try:
            for batch in self._request.batches(keepalive):
                if batch is not None:
                    self._observe(batch)
                yield batch
        finally:
            self._finish_all()

    def _observe(self, batch: list) -> None:
        now = time.monotonic()
        # per choice, its last output of the batch: its n_tokens counts every token before it
        latest = {out.choice: out for out in batch if isinstance(out, Output)}
        for out in latest.values():
            self._observe_choice(out, now)
        if isinstance(batch[-1], Failure):  # only ever last: the outputs before it are counted first
            self._finish_all()

    def _observe_choice(self, out: Output, now: float) -> None:
        c = self._choices[out.choice]
        new = out.n_tokens - c.n_tokens
        if c.last is None:  # its first token: it left the queue for a decoder slot
            self._waiting.dec()
            self._running.inc()
            self._prefix_queries.inc(len(self._request.prompts[out.choice]))
            self._prefix_hits.inc(out.cached_tokens)
            self._ttft.observe(now - self._start)
            c.last, new = now, new - 1
        if new > 0:  # tokens that arrived together share the gap since the previous one
            self._itl.observe((now - c.last) / new, new)
            if now - self._itl.flushed > ITL_FLUSH_S:
                self._itl.flush()
        c.last, c.n_tokens = now, out.n_tokens
        if out.finish_reason is not None:
            c.done = True
            self._running.dec()
            self._itl.flush()
            self._e2e.observe(now - self._start)
            SUCCESS.labels(self._model, out.finish_reason).inc()
            self._generated.inc(c.n_tokens)

    def _finish_all(self) -> None:
        """Cancelled or failed: take what is left off the gauges (once), count the tokens it did generate."""
        if self._closed:
            return
        self._closed = True
        self._itl.flush()
        for c in self._choices:
            if c.done:
                continue
            c.done = True
            (self._waiting if c.last is None else self._running).dec()
            if c.n_tokens:
                self._generated.inc(c.n_tokens)

    def close(self) -> None:
        self._finish_all()
        self._request.close()


def export_model(model_id: str) -> None:
    """Export every family of a model at zero (the default model at start, others as they load), as vLLM does
    once its model is loaded: a fresh server's dashboard shows zeros, not "no data"."""
    for family in (RUNNING, WAITING, PROMPT_TOKENS, GENERATION_TOKENS, PREFIX_QUERIES, PREFIX_HITS, TTFT, ITL, E2E):
        family.labels(model_id)
    for reason in ("stop", "length"):
        SUCCESS.labels(model_id, reason)


def track(request, model_id: str, prompt_tokens: int) -> TrackedRequest:
    return TrackedRequest(request, model_id, prompt_tokens)


def exposition() -> bytes:
    """The text format: summed over gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)

