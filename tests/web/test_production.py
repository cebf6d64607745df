"""The production command as a new user meets it: a brand-new machine, a deploy's SIGTERM, clients that hang up
or stop reading. Each test starts its own gunicorn (live_server.Server), so none leans on another's state."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from live_server import KEYS, MEDIUM, Server

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


@pytest.mark.parametrize("storage", [{}, {"QUANTIZE": "int8"}, {"DTYPE": "bfloat16"}, {"KV_CACHE_DTYPE": "bfloat16"}],
                         ids=["fp32", "int8", "bf16", "bf16-kv-cache"])
def test_cold_production_start_answers_200(model_dir, tmp_path, storage):
    """README: `MY_API_KEY=... gunicorn -c gunicorn_config.py web.app:app`, on a machine whose caches are empty
    (the CPU kernel is compiled by the first load, on a threadpool thread of the gevent worker, where loading an
    int8 model once spawned ldconfig through gevent's subprocess and failed), in each storage a CPU user picks."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    cache.mkdir()
    server = Server("gunicorn", model_dir, tmp_path, HOME=home, XDG_CACHE_HOME=cache, MODEL_CHECKPOINT=None,
                    MODEL_DIR=None, MAX_REQUEST_BYTES=None, **storage)  # the bundled model, the default settings
    try:
        metrics = httpx.get(server.url + "/metrics", timeout=10).text  # before any request: zeros, not nothing
        assert 'vllm:num_requests_running{model_name="shakespeare-12m.pt"} 0.0' in metrics
        assert 'vllm:time_to_first_token_seconds_count{model_name="shakespeare-12m.pt"} 0.0' in metrics
        with server.client() as client:
            chat = client.chat.completions.create(model="shakespeare-12m.pt", max_tokens=8,
                                                  messages=[{"role": "user", "content": "Good morrow"}])
            assert chat.choices[0].message.content is not None
            text = client.completions.create(model="shakespeare-12m.pt", prompt="ROMEO:", max_tokens=8)
            assert text.usage.completion_tokens > 0
            streamed = "".join(c.choices[0].text for c in client.completions.create(
                model="shakespeare-12m.pt", prompt="ROMEO:", max_tokens=8, stream=True) if c.choices)
            assert streamed
        details = httpx.get(server.url + "/v1/models/shakespeare-12m.pt", headers=AUTH, timeout=10).json()
        assert details["kv_cache_dtype"] == ("bfloat16" if "bfloat16" in storage.values() else "float32")
        if shutil.which(os.environ.get("CC", "cc")):  # with a compiler, the kernel was built into the empty cache
            built = list((cache / "nanogpt-serve").glob("cpu_kernel-*.so"))
            assert built and not list((cache / "nanogpt-serve").glob("*.tmp"))
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def test_sigterm_gives_every_stream_a_final_frame(model_dir, tmp_path):
    server = Server("gunicorn", model_dir, tmp_path, GUNICORN_GRACEFUL_TIMEOUT=4, MAX_BATCH=4)
    body = {"model": MEDIUM, "prompt": "Once", "max_tokens": 4000, "ignore_eos": True, "stream": True}
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
            with http.stream("POST", "/v1/completions", json=body) as first, \
                    http.stream("POST", "/v1/completions", json=body) as second:
                streams = []
                for response in (first, second):
                    assert response.status_code == 200
                    lines = response.iter_lines()
                    while not next(lines).startswith("data: {"):  # streaming has begun
                        pass
                    streams.append(lines)
                os.kill(server.proc.pid, signal.SIGTERM)
                t0 = time.monotonic()
                events = [[line[len("data: "):] for line in lines if line.startswith("data: ")] for lines in streams]
                elapsed = time.monotonic() - t0
        for stream in events:
            assert stream[-1] == "[DONE]"
            final = json.loads(stream[-2])
            assert final.get("error", {}).get("code") == "shutting_down" or \
                final["choices"][0]["finish_reason"] is not None
        assert elapsed < 4 + 1  # within the grace period, not cut by the worker's kill
        server.proc.wait(15)
    finally:
        server.stop()


def _health(server: Server) -> dict:
    return httpx.get(server.url + "/health", timeout=10).json()


def _wait_idle(server: Server, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        engines = _health(server)["engines"]
        if engines and all(e["running"] == 0 and e["waiting"] == 0 for e in engines.values()):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"still busy after {timeout} s: {_health(server)}")


def _raw_request(server: Server, body: dict, receive_buffer: int | None = None) -> socket.socket:
    payload = json.dumps(body).encode()
    sock = socket.socket()
    if receive_buffer:  # before connecting, or the kernel grows the window anyway
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + KEYS[0].encode() + b"\r\nContent-Length: " +
                 str(len(payload)).encode() + b"\r\n\r\n" + payload)
    return sock


@pytest.mark.parametrize("kind", ["gunicorn", "dev"])
def test_non_streamed_client_that_hangs_up_frees_its_slot(servers, kind):
    server = servers(kind, MAX_BATCH=2)
    sock = _raw_request(server, {"model": MEDIUM, "prompt": "Once", "max_tokens": 4000, "ignore_eos": True})
    deadline = time.monotonic() + 30
    while not _health(server)["engines"].get(MEDIUM, {}).get("running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sock.close()  # the client's timeout
    assert _wait_idle(server, 10) < 5  # 4,000 tokens of this model take far longer than that


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def _worker_pid(server: Server) -> int:
    return int(Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()[0])


def test_clients_that_stop_reading_are_ended(model_dir, tmp_path):
    """Streams whose clients never read are ended (their unread tokens capped, their writes timed out), so what
    they cost the worker is bounded: a second round of them adds nothing to the first one's high-water mark."""
    # glibc returns large freed blocks to the system at once (mmap'd past 64 KiB, heap trimmed): RSS then tracks
    # what the worker holds, not where its allocator's high-water mark happened to land (batch-128 logits are
    # 25 MB a tensor)
    server = Server("gunicorn", model_dir, tmp_path, STREAM_WRITE_TIMEOUT=2, MAX_BATCH=128,
                    MALLOC_MMAP_THRESHOLD_=65536, MALLOC_TRIM_THRESHOLD_=0)
    try:
        # ~0.9 KB a frame with 20 logprobs, 128 choices a step: the socket buffers (a few MB sent, a few KB
        # received) are full within seconds, long before the 1,000 tokens of each choice
        body = {"prompt": ["Once"] * 16, "n": 8, "max_tokens": 1000, "ignore_eos": True, "stream": True,
                "logprobs": 20}
        rss = []
        for _ in range(2):
            sock = _raw_request(server, body, receive_buffer=4096)  # and never read
            time.sleep(1)
            _wait_idle(server, 180)  # long before 1,000 steps of 128 sequences
            rss.append(_rss_kib(_worker_pid(server)))
            sock.close()
        assert rss[1] - rss[0] < 32 * 1024, f"the worker grew by {rss[1] - rss[0]} KiB in the second round"
        # the engine may end a request (client_not_reading) while its last write still blocks on the full socket:
        # the response, and its access-log line, end within STREAM_WRITE_TIMEOUT
        deadline = time.monotonic() + 10
        while server.log.read_text().count('"POST /v1/completions HTTP/1.1" 200') < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log.read_text()
        assert "client_not_reading" in log or "timed out" in log
        assert log.count('"POST /v1/completions HTTP/1.1" 200') == 2
    finally:
        server.stop()
