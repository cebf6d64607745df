"""A graceful stop under gunicorn (SIGTERM: a deploy, `docker stop`): streams end with a frame, never mid-air.

gunicorn's gevent worker, on SIGTERM, stops accepting connections, waits up to GUNICORN_GRACEFUL_TIMEOUT for the
open ones, then kills their greenlets, which cut a stream with neither an error frame nor [DONE]. Here, on the
same signal, no new sequence is admitted (503), running ones go on, and shortly before the worker would kill
them, whatever still runs is failed through the engines: every stream then sends its error frame and [DONE]
and ends by itself, and every non-streamed request gets a 503 with Retry-After.
"""
from __future__ import annotations

import logging
import signal

from flask import Flask

from engine import Unavailable

log = logging.getLogger(__name__)
CUT_BEFORE_S = 2.0  # the engines fail what is left this long before the worker's grace period ends


def drain_on_sigterm(app: Flask, grace_s: float) -> None:
    """Install the handler in a gevent worker (gunicorn_config.post_worker_init); gunicorn's own runs after it."""
    import gevent

    registry = app.extensions["nanogpt"].registry
    gunicorn_handler = signal.getsignal(signal.SIGTERM)
    cut_after = max(grace_s - CUT_BEFORE_S, grace_s / 2)

    def cut() -> None:
        log.warning("graceful timeout near: ending the sequences still in flight")
        registry.stop_all(Unavailable("The server is shutting down; try again.", "shutting_down"))

    def on_sigterm(signum, frame) -> None:
        if not registry.draining:
            log.info("SIGTERM: finishing running sequences for up to %.0f s, admitting none", cut_after)
            registry.drain()
            gevent.spawn_later(cut_after, cut)  # a greenlet: a signal handler must not block
        if callable(gunicorn_handler):
            gunicorn_handler(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
