"""gunicorn settings: `gunicorn -c gunicorn_config.py web.app:app`.

gevent workers: one worker serves many concurrent streams, because generation runs in an inference thread
(engine/engine.py; in an engine process of its own per model on CUDA, engine/process.py) and request greenlets
only wait on it. Each worker loads the models it is asked for on
first use and keeps up to MODEL_CACHE_SIZE of them: per worker, every cached model costs its weights plus a KV
cache of MAX_BATCH x block_size positions (GPT-2 124M in float32: ~0.5 GB + ~0.6 GB at MAX_BATCH=8). Use one
worker per GPU; more workers multiply that memory.

This file must not import torch: the master never touches CUDA (a forked CUDA context is unusable).
"""
import logging
import os
import shutil
import tempfile

# production refuses the public default key: set MY_API_KEY, or ALLOW_DEFAULT_KEY=1 to accept it knowingly
# (`python -m web.app`, the development server, keeps the default key with its loud warning)
if not (os.environ.get("MY_API_KEY") or "").replace(",", "").strip() and os.environ.get("ALLOW_DEFAULT_KEY") != "1":
    raise SystemExit("gunicorn_config.py: MY_API_KEY is not set, so the server would accept the PUBLIC default key. "
                     "Set MY_API_KEY=<secret>[,<secret>...], or ALLOW_DEFAULT_KEY=1 to serve it anyway.")

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5001')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))  # open streams per worker
preload_app = False  # each worker imports the app after gevent patched it, and loads its own models

# With gevent the timeout is a heartbeat of the worker's event loop, which the inference thread never blocks;
# it is not a limit on how long a stream may run, so long generations are safe at this value.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))  # lets running streams finish
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))  # longer than typical proxy idle timeouts

# gunicorn >= 25.1 opens a control socket at a fixed per-user path, which collides when several servers
# (tests, several projects) run as one user; opt in with GUNICORN_CONTROL_SOCKET=<path>.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
# gunicorn's default line logs the query string, and the training-log WebSocket takes its key as ?key= (browsers
# cannot set headers on a WebSocket): log the path only, so no key ever reaches the access log
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
loglevel = os.environ.get("LOG_LEVEL", "info")


def post_fork(server, worker):
    # before the worker imports the app, so its warnings (e.g. the default API key) reach the log
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper(),
                        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")


def post_worker_init(worker):
    # SIGTERM drains: running streams finish, or end with an error frame and [DONE] before the grace period ends
    from web.shutdown import drain_on_sigterm
    drain_on_sigterm(worker.wsgi, graceful_timeout)


# Prometheus with several workers (web/metrics.py): each worker writes its values to files in one directory and
# /metrics, answered by any worker, sums them. A fresh directory per server run, removed at exit; an operator who
# sets PROMETHEUS_MULTIPROC_DIR keeps theirs (and must empty it between runs, as prometheus_client says).
_METRICS_DIR_MARK = "NANOGPT_OWN_PROMETHEUS_DIR"  # survives a config reload (SIGHUP) in the master's environment
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_METRICS_DIR_MARK] = tempfile.mkdtemp(prefix="nanogpt-metrics-")


def child_exit(server, worker):
    # drop the dead worker's running/waiting gauges (livesum), so a restarted worker does not double them
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    own = os.environ.get(_METRICS_DIR_MARK)
    if own and own == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(own, ignore_errors=True)
