"""Issue 7 against real servers: /metrics summed over two gunicorn workers, scripts/smoke.sh, the terminal client
in a pseudo-terminal, and /docs rendered by Chromium with no request leaving loopback."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from live_server import KEYS, REPO, TINY

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # tooling.md §4: root needs no-sandbox


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def two_workers(servers, metrics_dir):
    # the operator-given PROMETHEUS_MULTIPROC_DIR lets the test see each worker's files
    return servers("gunicorn", WEB_CONCURRENCY=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))


def generation_tokens(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == "vllm:generation_tokens_total")


def test_metrics_are_summed_over_gunicorn_workers(two_workers, metrics_dir):
    url = two_workers.url
    before = generation_tokens(url)
    body = {"model": TINY, "prompt": "Hello", "max_tokens": 3, "ignore_eos": True}
    total = 0
    for _ in range(4):
        with httpx.Client(timeout=60) as c:  # a new connection each time, so either worker may take it
            r = c.post(url + "/v1/completions", json=body, headers=AUTH)
        total += r.json()["usage"]["completion_tokens"]
    assert total == 12
    # whichever worker answers the scrape, it reports what every worker generated
    for _ in range(4):
        assert generation_tokens(url) - before == total
    assert any(metrics_dir.glob("counter_*.db"))


def test_smoke_script_is_green_and_covers_every_route(two_workers):
    r = subprocess.run(["bash", str(REPO / "scripts" / "smoke.sh"), two_workers.url, KEYS[0]],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "smoke test passed" in r.stdout and "FAIL" not in r.stdout + r.stderr
    script = (REPO / "scripts" / "smoke.sh").read_text()
    paths = httpx.get(two_workers.url + "/openapi.json").json()["paths"]
    skip = ("/static/", "/docs/{path}", "/api/", "/ws/", "/annotate")  # assets; the annotation app has its own tests
    for path in paths:
        if not path.startswith(skip):
            assert path.replace("{model_id}", "$MODEL") in script, f"smoke.sh does not call {path}"
    bad = subprocess.run(["bash", str(REPO / "scripts" / "smoke.sh"), two_workers.url, "wrong-key", TINY],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "FAIL" in bad.stderr  # it does fail on an unexpected status


def test_terminal_client_in_a_pty(two_workers):
    pexpect = pytest.importorskip("pexpect")
    server = two_workers
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "dumb"}
    child = pexpect.spawn(sys.executable, ["-m", "web.client", "--base-url", server.url + "/v1", "--api-key",
                                           KEYS[0], "--system", "Be brief.", "--history", "4", "--max-tokens", "6"],
                          cwd=str(REPO), env=env, encoding="utf-8", timeout=60)
    try:
        child.expect(f"Chatting with {re.escape(TINY)}")
        child.expect_exact("you> ")
        child.sendline("Good morrow, fair lady.")
        child.expect_exact("you> ")
        answer = child.before.split("Good morrow, fair lady.", 1)[-1].strip()
        assert answer and not answer.startswith("error: ")  # streamed text from the model (random words, which
        # may well contain "error")
        child.sendline("/reset")
        child.expect_exact("(conversation forgotten)")
        child.expect_exact("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_docs_render_in_chromium_with_no_outside_request(two_workers):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    outside, errors = [], []

    def guard(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    n_ops = sum(len(ops) for ops in httpx.get(two_workers.url + "/openapi.json").json()["paths"].values())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", guard)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(two_workers.url + "/docs")
            page.wait_for_selector(".opblock-summary", timeout=15_000)
            assert page.locator(".opblock-summary").count() == n_ops  # every operation of the document
            assert page.locator(".opblock-summary-path", has_text="/v1/chat/completions").count() >= 1
            page.locator(".opblock-summary-path", has_text="/generate").first.click()  # a section opens
            page.wait_for_selector(".opblock-body", timeout=5_000)
        finally:
            browser.close()
    assert outside == [] and errors == []
