"""The playground at / in a real browser: Playwright drives Debian's Chromium (never `playwright install`) against
a live dev server over the tiny checkpoints. Every request leaving loopback is aborted and counted.
Screenshots go to tests/artifacts/ (gitignored) for a person to look at."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from live_server import KEYS, MEDIUM, REPO, TINY
from web.openai.protocol import DEFAULTS, RANGES

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the test extra installs it; without it only the browser tests skip
    sync_playwright = None

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Playwright adds most of its own; --no-sandbox because CI runs as root (tooling.md §4)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "tests" / "artifacts"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
DONE_S = 30_000  # ms: a generation on 2 busy cores, with margin


@pytest.fixture(scope="module")
def live(servers):
    return servers("dev")


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium fonts-wqy-microhei)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Tab:
    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.outside: list[str] = []  # requests to anything but loopback (aborted)


@pytest.fixture
def open_page(browser, live):
    """open_page(width, key) -> a Tab on / with the key remembered in localStorage (None: a fresh browser)."""
    tabs = []

    def guard(tab, route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            tab.outside.append(route.request.url)
            route.abort()

    def open_(width: int = 1280, key: str | None = KEYS[0]) -> Tab:
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        if key is not None:
            ctx.add_init_script(f"localStorage.setItem('nanogpt.apiKey', {json.dumps(key)})")
        tab = Tab(ctx.new_page())
        ctx.route("**/*", lambda route: guard(tab, route))
        tab.page.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
        tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.page.set_default_timeout(10_000)
        tab.page.goto(live.url + "/")
        tabs.append(tab)
        if key == KEYS[0]:
            models_listed(tab.page)
        return tab

    yield open_
    for tab in tabs:
        tab.page.context.close()
    assert [u for tab in tabs for u in tab.outside] == []


def models_listed(page):
    page.wait_for_selector(f'#model option[value="{MEDIUM}"]', state="attached")


def set_value(page, name: str, value) -> None:
    page.fill(f"#value-{name}", str(value))  # the number box beside the slider; fill sends the input event


def generate(page) -> None:
    """Ctrl+Enter, then wait until the answer is complete (Stop is disabled again)."""
    page.keyboard.press("Control+Enter")
    expect(page.locator("#stop")).to_be_disabled(timeout=DONE_S)


def answer_length(page) -> int:
    return page.evaluate("() => [...document.querySelectorAll('.candidate .text')].at(-1)?.textContent.length ?? 0")


def test_page_is_public_and_self_contained(live):
    r = httpx.get(live.url + "/")  # no key: the key is typed into the page
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", r.text), "every asset must be served by us"
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)""", r.text):
        assert httpx.get(live.url + asset).status_code == 200, asset
    for js in (REPO / "static").glob("*.js"):  # model text goes in as text, never as markup
        assert "innerHTML" not in js.read_text() and "insertAdjacentHTML" not in js.read_text(), js


def test_loads_clean_with_the_servers_defaults(open_page, live):
    tab = open_page()
    page = tab.page
    assert page.input_value("#api-base") == live.url + "/v1"  # detected from the page's address
    assert TINY in page.locator("#model option").all_inner_texts()
    for name, default in DEFAULTS.items():  # rendered by Jinja from the API's own defaults and ranges
        assert float(page.input_value(f"#value-{name}")) == default
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty", "n"):
        bounds = [float(page.get_attribute(f"#range-{name}", end)) for end in ("min", "max")]
        assert bounds == list(RANGES[name]), name
    assert page.get_attribute("#range-max_tokens", "max") == "4096"  # ServerConfig.max_tokens_limit
    assert page.locator("#error").is_hidden()
    assert tab.errors == []
    # the guard works: a request to another host is aborted and recorded
    page.evaluate("() => fetch('http://192.0.2.1/').catch(() => null)")
    assert tab.outside == ["http://192.0.2.1/"]
    tab.outside.clear()


def test_key_is_asked_for_and_remembered(open_page):
    page = open_page(key=None).page
    expect(page.locator("#error")).to_contain_text("Enter the API key")
    page.fill("#api-key", KEYS[1])
    models_listed(page)
    expect(page.locator("#error")).to_be_hidden()
    page.reload()
    assert page.input_value("#api-key") == KEYS[1]
    models_listed(page)


def test_sliders_change_the_request(open_page):
    page = open_page().page
    bodies = []
    page.on("request", lambda r: r.method == "POST" and bodies.append(r.post_data_json))
    set_value(page, "max_tokens", 4)
    page.fill("#chat-input", "Hello")
    generate(page)
    first = bodies[-1]
    assert first["temperature"] == DEFAULTS["temperature"] and first["max_tokens"] == 4
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert first["messages"] == [{"role": "user", "content": "Hello"}]

    page.focus("#range-temperature")  # moved as a person would, with the keyboard
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#value-temperature")).to_have_value("0.85")  # the live value follows
    page.focus("#range-top_k")
    page.keyboard.press("Home")
    page.fill("#seed", "18446744073709551615")  # 2**64 - 1: past what a JS Number holds exactly
    page.fill("#stop-seqs", "\\n\nTHE END")
    page.click(".system summary")
    page.fill("#system", "Be brief.")
    page.fill("#chat-input", "Again")
    generate(page)
    second = bodies[-1]
    assert second["temperature"] == 0.85 and second["top_k"] == 0
    assert second["seed"] == 2**64 - 1 and second["stop"] == ["\n", "THE END"]
    assert second["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]  # multi-turn


def test_ctrl_enter_streams_and_reports_speed(open_page):
    tab = open_page()
    page = tab.page
    set_value(page, "max_tokens", 100)
    page.fill("#chat-input", "Tell me a story")
    page.keyboard.press("Control+Enter")
    lengths = []
    while page.is_enabled("#stop"):  # sampled while it streams
        lengths.append(answer_length(page))
        time.sleep(0.03)
    lengths.append(answer_length(page))
    growing = sorted(set(lengths))
    assert lengths == sorted(lengths) and len(growing) >= 3 and 0 < growing[-2] < growing[-1], lengths
    meta = page.locator(".meta").last.inner_text()
    assert re.search(r"[\d.]+ tok/s", meta) and re.search(r"prompt \d+ \+ completion \d+ = \d+", meta), meta
    assert page.input_value("#chat-input") == ""  # sent
    assert tab.errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_stop_stays_put_and_aborts(open_page, live, width):
    page = open_page(width=width).page
    set_value(page, "max_tokens", 4000)
    page.fill("#chat-input", "Go on forever")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('.candidate .text')?.textContent.length > 0",
                           timeout=DONE_S)
    stop_box, grown = [], []  # a Stop that moves as text arrives is missed by the click meant for it
    deadline = time.monotonic() + DONE_S / 1000
    while len(set(grown)) < 4 and time.monotonic() < deadline:  # Stop's place while the answer grows 3 times
        stop_box.append(page.locator("#stop").bounding_box())
        grown.append(answer_length(page))
        time.sleep(0.05)
    assert len(set(grown)) >= 4 and all(box == stop_box[0] for box in stop_box), (grown, stop_box)
    follows = page.evaluate("() => { const m = document.getElementById('messages');"
                            " return m.scrollHeight - m.scrollTop - m.clientHeight < 8; }")
    assert follows, "the conversation box must stay at the end of the streaming answer"
    page.click("#stop")
    expect(page.locator("#generate")).to_be_enabled()
    expect(page.locator(".meta").last).to_contain_text("stopped")
    stopped_at = answer_length(page)
    time.sleep(0.5)
    assert answer_length(page) == stopped_at  # nothing arrives after Stop
    deadline = time.monotonic() + 10  # and the server cancelled the sequence
    while httpx.get(live.url + "/health").json()["engines"][TINY]["running"]:
        assert time.monotonic() < deadline, "the server still generates for a stopped request"
        time.sleep(0.1)


def test_api_errors_are_shown_plainly(open_page):
    page = open_page().page
    page.fill("#api-key", "not-the-key")
    expect(page.locator("#error")).to_have_text("API key refused (HTTP 401): Incorrect API key provided.")
    page.fill("#chat-input", "Hello")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#error")).to_contain_text("Incorrect API key provided")
    assert page.input_value("#chat-input") == "Hello"  # the failed message is back in the box to resend
    assert page.locator(".turn").count() == 0

    page.fill("#api-key", KEYS[0])
    models_listed(page)
    set_value(page, "temperature", 5)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#error")).to_have_text(
        "Bad parameter 'temperature' (HTTP 400): 'temperature' must be between 0.0 and 2.0; got 5.")


def test_candidates_side_by_side_and_output_is_text(open_page):
    page = open_page().page
    set_value(page, "max_tokens", 12)
    set_value(page, "n", 3)
    page.fill("#chat-input", "<img src=x onerror=alert(1)> <b>bold?</b>")
    generate(page)
    assert page.locator("#messages img, #messages b").count() == 0  # shown as text, not markup
    assert "<b>bold?</b>" in page.inner_text("#messages")
    cards = page.locator(".turn.assistant .candidate")
    expect(cards).to_have_count(3)
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    assert len({round(b["y"]) for b in boxes}) == 1 and boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    cards.nth(2).locator(".pick").click()  # keep candidate 3: the next turn continues from it
    expect(cards.nth(2)).to_have_class(re.compile("picked"))

    page.click("#tab-completion")
    page.fill("#prompt", "The meaning of life is")
    generate(page)
    outputs = page.locator("#completion-output .candidate")
    expect(outputs).to_have_count(3)
    added = outputs.nth(0).locator(".text").inner_text()
    outputs.nth(0).locator(".pick").click()
    assert page.input_value("#prompt") == "The meaning of life is" + added


def test_json_schema_box_makes_the_answer_json(open_page):
    page = open_page().page
    bodies = []
    page.on("request", lambda r: r.method == "POST" and bodies.append(r.post_data_json))
    page.fill("#json-schema", "{not json")
    page.fill("#chat-input", "Who are you?")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#error")).to_contain_text("The JSON schema is not valid JSON")
    assert bodies == [] and page.input_value("#chat-input") == "Who are you?"

    # the tiny model is random: only the grammar can make it write this
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                               "brave": {"type": "boolean"}}, "required": ["name", "brave"]}
    page.fill("#json-schema", json.dumps(schema))
    set_value(page, "max_tokens", 40)
    generate(page)
    assert bodies[-1]["response_format"] == {"type": "json_schema",
                                             "json_schema": {"name": "playground", "schema": schema}}
    answer = json.loads(page.locator(".turn.assistant .candidate .text").last.inner_text())
    assert set(answer) == {"name", "brave"} and isinstance(answer["brave"], bool)
    page.click("#reset")
    assert page.input_value("#json-schema") == ""


@pytest.mark.parametrize("width", [390, 1280])
def test_layout_fits_and_screenshots(open_page, width):
    tab = open_page(width=width)
    page = tab.page
    set_value(page, "max_tokens", 16)
    set_value(page, "n", 2)
    page.click(".system summary")
    page.fill("#system", "You are a storyteller.")
    page.fill("#chat-input", "Tell me about the sea.")
    generate(page)
    overflow = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert overflow[0] <= overflow[1], f"horizontal overflow at {width}px: {overflow}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => document.querySelector('.params').scrollTo(0, 0)")  # the fills scrolled the panel
    page.screenshot(path=ARTIFACTS / f"playground-{width}.png", full_page=True)
    page.click("#tab-completion")
    page.fill("#prompt", "It was a dark and stormy night")
    generate(page)
    overflow = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert overflow[0] <= overflow[1], f"horizontal overflow in the completion view at {width}px: {overflow}"
    page.screenshot(path=ARTIFACTS / f"playground-completion-{width}.png")
    assert tab.errors == []
