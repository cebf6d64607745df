"""/annotate in a real browser (Playwright + Debian's Chromium, headless; never `playwright install`): load a
model, generate candidates side by side, pick best and worst, save; multi-turn continues with the chosen reply;
train from the panel with the live log and loss chart. Requests leaving loopback are aborted and counted."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from live_server import KEYS, REPO, TINY

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    sync_playwright = None

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


@pytest.fixture(scope="module")
def live(servers, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate-page-models")
    # a model whose transcript format defines thinking markers, so the page shows (folded) thinking
    shutil.copyfile(model_dir / TINY, out / "thinker.pt")
    # (a space closes the thinking: the random tiny model writes one early, so both parts have text)
    (out / "thinker.chat.json").write_text(json.dumps({"thinking": ["<think>", " "]}))
    return servers("dev", MODEL_DIR=str(out), DATA_DIR=str(tmp_path_factory.mktemp("annotate-page-data")))


@pytest.fixture
def page(live):
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    outside, errors = [], []

    def guard(route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        ctx.add_init_script(f"localStorage.setItem('nanogpt.apiKey', {json.dumps(KEYS[0])})")
        ctx.route("**/*", guard)
        pg = ctx.new_page()
        pg.on("console", lambda m: m.type == "error" and errors.append(m.text))
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)  # 2 shared cores: a model load or generation can take seconds
        pg.goto(live.url + "/annotate")
        pg.wait_for_selector(f'#model option[value="{TINY}"]', state="attached")
        yield pg
        browser.close()
    assert outside == [] and errors == []


def load(page, model: str, n: int, mode: str = "single") -> None:
    page.select_option("#model", model)
    page.select_option("#mode", mode)
    page.fill("#num-responses", str(n))
    page.fill("#max-new-tokens", "16")
    page.click("#load")
    expect(page.locator("#model-status")).to_contain_text(f"loaded: {model}")


def generate(page, message: str, n: int) -> None:
    page.fill("#message", message)
    page.click("#generate")
    expect(page.locator(".cand")).to_have_count(n)


def test_pick_save_multi_turn_and_train(page, live):
    assert httpx.get(live.url + "/annotate").headers["content-security-policy"].startswith("default-src 'self'")
    load(page, TINY, 3)
    generate(page, "Good morrow", 3)
    boxes = [page.locator(".cand").nth(i).bounding_box() for i in range(3)]
    assert len({round(b["y"]) for b in boxes}) == 1, boxes  # side by side
    assert page.locator(".cand details").count() == 0  # this format defines no thinking
    contents = page.locator(".cand .content").all_text_contents()
    page.locator(".cand .pick-best").nth(1).click()
    page.locator(".cand .pick-worst").nth(2).click()
    page.click("#save")
    expect(page.locator("#count-preference")).to_have_text("1")
    with httpx.Client(base_url=live.url, headers=AUTH) as api:
        (rec,) = api.get("/api/dataset/list").json()["data"]["items"]
        assert (rec["human_input"], rec["chosen"], rec["rejected"]) == ("Good morrow", contents[1], contents[2])

    load(page, "thinker.pt", 2, mode="multi")
    generate(page, "Hello", 2)
    assert page.locator(".cand details.thinking").count() == 2
    assert page.locator(".cand details.thinking[open]").count() == 0  # folded
    first = page.locator(".cand .content").first.text_content()
    page.locator(".cand .pick-best").first.click()
    page.click("#save")
    expect(page.locator("#count-roleplay")).to_have_text("1")
    expect(page.locator("#turns .turn-line")).to_have_count(2)
    with page.expect_request(lambda r: r.url.endswith("/api/generate")) as req:
        generate(page, "And then?", 2)
    assert req.value.post_data_json["context"] == [{"role": "user", "content": "Hello"},
                                                   {"role": "assistant", "content": first}]

    page.select_option("#model", TINY)
    page.select_option("#train-method", "sft")
    page.fill("#train-steps", "4")
    page.fill("#train-lr", "0.001")
    page.click("#train-start")
    expect(page.locator("#train-status")).to_contain_text("done", timeout=90_000)
    expect(page.locator("#train-log")).to_contain_text("step 4/4 | loss")
    assert int(page.get_attribute("#loss-chart", "data-points")) == 4
    expect(page.locator("#ws-state.live")).to_have_count(1)
    (REPO / "tests" / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=REPO / "tests" / "artifacts" / "annotate-1400.png", full_page=True)


def test_show_thinking_false_hides_it(live):
    with httpx.Client(base_url=live.url, headers=AUTH, timeout=60) as api:
        for show in (True, False):
            r = api.post("/api/model/load", json={"model": "thinker.pt", "num_responses": 2, "max_new_tokens": 8,
                                                  "show_thinking": show})
            assert r.status_code == 200, r.text
            responses = api.post("/api/generate", json={"message": "Hi"}).json()["responses"]
            assert all(("thinking" in r) is show for r in responses), responses
