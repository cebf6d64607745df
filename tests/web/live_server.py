"""A real server process for the tests: gunicorn with the gevent worker, or the Flask dev server, on a free
loopback port, with the test keys and a MODEL_DIR of tiny checkpoints."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

REPO = Path(__file__).resolve().parents[2]
KEYS = ("test-key-one", "test-key-two")
TINY = "tiny.pt"  # the default model (MODEL_CHECKPOINT), also listed from MODEL_DIR
MEDIUM = "medium.pt"  # heavy enough per step that a forward on the event loop would show in /health


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process in its own session, so stopping it stops its workers too."""

    def __init__(self, kind: str, model_dir: Path, log_dir: Path, **env):
        """`env` adds to or overrides the server's environment; a value of None removes the variable."""
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{kind}-{self.port}.log"
        environ = {**os.environ, "PYTHONPATH": str(REPO), "HOST": "127.0.0.1", "PORT": str(self.port),
                   "MODEL_DIR": str(model_dir), "MODEL_CHECKPOINT": str(model_dir / TINY),
                   "MY_API_KEY": ",".join(KEYS), "DEVICE": "cpu", "MAX_REQUEST_BYTES": str(64 * 1024),
                   **{k: str(v) for k, v in env.items()}}
        environ = {k: v for k, v in environ.items() if v != "None"}  # env NAME=None: leave NAME unset
        bindir = Path(sys.executable).parent
        cmd = ([str(bindir / "gunicorn"), "-c", "gunicorn_config.py", "web.app:app"] if kind == "gunicorn"
               else [sys.executable, "-m", "web.app"])
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=environ, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start:\n{self.log.read_text()}")

    def client(self, key: str = KEYS[0], **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=60, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
