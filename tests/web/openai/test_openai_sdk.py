"""The real servers driven by the official openai SDK: what LobeChat, NextChat and scripts rely on."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import httpx
import openai
import pytest

from live_server import KEYS, REPO, TINY
from model import SamplingParams, generate, load_model

CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert ids[0] == TINY  # the default model comes first
    assert set(ids) == {TINY, "tiny-hf", "medium.pt"}  # notes.txt is not a checkpoint
    card = client.models.retrieve("tiny-hf")
    assert (card.id, card.object, card.owned_by) == ("tiny-hf", "model", "nanogpt-serve")
    assert isinstance(card.created, int)


def test_completion(client):
    res = client.completions.create(model=TINY, prompt="Hello", max_tokens=7, temperature=0)
    assert res.object == "text_completion" and res.id.startswith("cmpl-")
    (choice,) = res.choices
    assert choice.finish_reason == "length" and choice.index == 0 and choice.text
    assert res.usage.prompt_tokens == 1 and res.usage.completion_tokens == 7 and res.usage.total_tokens == 8


def test_chat(client):
    res = client.chat.completions.create(model="tiny-hf", messages=CHAT, max_tokens=5, temperature=0)
    assert res.object == "chat.completion"
    msg = res.choices[0].message
    assert msg.role == "assistant" and isinstance(msg.content, str)
    assert res.choices[0].finish_reason in ("stop", "length")
    assert res.usage.completion_tokens <= 5 and res.usage.prompt_tokens > 5


def test_chat_accepts_content_parts_and_client_fields(client):
    res = client.chat.completions.create(
        model=TINY, max_completion_tokens=3, user="lobe-user", temperature=1, top_p=1, presence_penalty=0.5,
        frequency_penalty=0.5, messages=[{"role": "developer", "content": "Be brief."},
                                         {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        extra_body={"top_k": 10, "min_p": 0.05, "repetition_penalty": 1.1}, response_format={"type": "text"})
    assert res.usage.completion_tokens <= 3


# what Open WebUI sends with every chat: its built-in tools (36 of them), and no tool_choice
TOOLS = [{"type": "function", "function": {"name": f"builtin_{i}", "description": "A tool of the chat UI.",
                                           "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                                          "required": ["q"]}}} for i in range(36)]


@pytest.mark.parametrize("choice", [{}, {"tool_choice": "auto"}, {"tool_choice": "none"}], ids=["absent", "auto",
                                                                                             "none"])
def test_chat_with_tools_answers_in_text(client, choice):
    res = client.chat.completions.create(model=TINY, messages=CHAT, max_tokens=4, tools=TOOLS,
                                         parallel_tool_calls=True, **choice)
    msg = res.choices[0].message
    assert isinstance(msg.content, str) and not msg.tool_calls and res.choices[0].finish_reason in ("stop", "length")
    chunks = list(client.chat.completions.create(model=TINY, messages=CHAT, max_tokens=4, tools=TOOLS, stream=True,
                                                 **choice))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert not any(c.choices[0].delta.tool_calls for c in chunks)


def test_chat_reads_on_after_another_models_tool_calls(client):
    # a chat UI keeps the conversation when its user switches from a model that called a tool to ours
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                    "name": "builtin_0", "arguments": '{"q": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}]
    res = client.chat.completions.create(model=TINY, messages=messages, tools=TOOLS, max_tokens=4, temperature=0)
    assert isinstance(res.choices[0].message.content, str) and not res.choices[0].message.tool_calls
    plain = client.chat.completions.create(model=TINY, messages=messages[:1], max_tokens=1)
    assert res.usage.prompt_tokens > plain.usage.prompt_tokens + 10  # the call and its result are in the prompt


def test_chat_stream_framing(client, server):
    stream = client.chat.completions.create(model=TINY, messages=CHAT, max_tokens=6, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    finish = chunks[-2]
    assert finish.choices[0].finish_reason in ("stop", "length") and finish.choices[0].delta.content is None
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage.total_tokens == usage.usage.prompt_tokens + usage.usage.completion_tokens
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model=TINY, messages=CHAT, max_tokens=6, temperature=0)
    assert text == whole.choices[0].message.content  # greedy: streamed == not streamed
    assert usage.usage.completion_tokens == whole.usage.completion_tokens
    # the raw bytes: data frames only, no event: lines, [DONE] last
    raw = httpx.post(server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEYS[0]}"},
                     json={"model": TINY, "messages": CHAT, "max_tokens": 2, "stream": True}, timeout=30)
    assert raw.headers["content-type"].startswith("text/event-stream")
    frames = raw.text.split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""] and all(f.startswith("data: ") for f in frames[:-1])


def test_completion_stream_without_usage(client):
    chunks = list(client.completions.create(model=TINY, prompt="The", max_tokens=4, temperature=0, stream=True))
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"
    whole = client.completions.create(model=TINY, prompt="The", max_tokens=4, temperature=0)
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text


def test_n_candidates(client):
    res = client.chat.completions.create(model=TINY, messages=CHAT, n=3, max_tokens=8, temperature=1.5, seed=7)
    assert [c.index for c in res.choices] == [0, 1, 2]
    assert len({c.message.content for c in res.choices}) > 1  # each candidate is sampled on its own
    chunks = list(client.chat.completions.create(model=TINY, messages=CHAT, n=3, max_tokens=4, stream=True))
    assert {c.choices[0].index for c in chunks} == {0, 1, 2}
    assert sum(1 for c in chunks if c.choices[0].finish_reason) == 3


def test_batch_of_prompts(client):
    res = client.completions.create(model=TINY, prompt=["One", "Two two", [464, 3290]], max_tokens=3,
                                    temperature=0, n=2)
    assert [c.index for c in res.choices] == list(range(6))
    assert res.usage.prompt_tokens == 1 + 2 + 2 and res.usage.completion_tokens == 6 * 3
    alone = client.completions.create(model=TINY, prompt="Two two", max_tokens=3, temperature=0)
    assert res.choices[2].text == res.choices[3].text == alone.choices[0].text


def test_seed_reproducible(client):
    def once(seed):
        return client.completions.create(model=TINY, prompt="Once upon", max_tokens=12, temperature=1.2,
                                         top_p=1, seed=seed, extra_body={"top_k": 0}).choices[0].text

    assert once(1234) == once(1234)
    assert once(1234) != once(99)


def test_stop_string(client):
    full = client.completions.create(model=TINY, prompt="Hello", max_tokens=8, temperature=0).choices[0].text
    cut = full[len(full) // 2:][:3]
    res = client.completions.create(model=TINY, prompt="Hello", max_tokens=8, temperature=0, stop=[cut, "zzzz"])
    assert res.choices[0].finish_reason == "stop"
    assert res.choices[0].text == full[:full.index(cut)]


def test_logprobs_logit_bias_ignore_eos(client):
    res = client.completions.create(model=TINY, prompt="Hi", max_tokens=3, temperature=0, logprobs=2)
    lp = res.choices[0].logprobs
    assert len(lp.tokens) == 3 and len(lp.token_logprobs) == 3 and all(len(t) == 2 for t in lp.top_logprobs)
    assert "".join(lp.tokens) == res.choices[0].text and lp.text_offset[0] == 0
    chat = client.chat.completions.create(model=TINY, messages=CHAT, max_tokens=2, temperature=0, logprobs=True,
                                          top_logprobs=3)
    content = chat.choices[0].logprobs.content
    assert len(content) == 2 and len(content[0].top_logprobs) == 3 and content[0].logprob <= 0
    forced = client.completions.create(model=TINY, prompt="Hi", max_tokens=4, temperature=0,
                                       logit_bias={"50256": 100}, extra_body={"ignore_eos": True})
    assert forced.choices[0].finish_reason == "length" and forced.usage.completion_tokens == 4
    ended = client.completions.create(model=TINY, prompt="Hi", max_tokens=4, temperature=0,
                                      logit_bias={"50256": 100})
    assert ended.choices[0].finish_reason == "stop" and ended.choices[0].text == ""


def _generate_in_process(model_dir, prompt: str, n: int) -> str:
    lm = load_model(model_dir / TINY, device="cpu")
    (seq,) = generate(lm, [lm.tokenizer.encode(prompt)], SamplingParams(max_tokens=n, temperature=0))
    return seq.text


def test_greedy_equals_model_generate(client, model_dir):
    res = client.completions.create(model=TINY, prompt="The meaning of life is", max_tokens=20, temperature=0)
    assert res.choices[0].text == _generate_in_process(model_dir, "The meaning of life is", 20)


@pytest.mark.skipif(importlib.util.find_spec("model.sample") is None, reason="model/sample.py is not written yet")
def test_greedy_equals_model_sample_cli(client, model_dir):
    prompt, n = "The meaning of life is", 20
    out = subprocess.run([sys.executable, "-m", "model.sample", "--checkpoint", str(model_dir / TINY), "--prompt",
                          prompt, "--max-tokens", str(n), "--temperature", "0"], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    res = client.completions.create(model=TINY, prompt=prompt, max_tokens=n, temperature=0)
    assert out.removesuffix("\n") == res.choices[0].text


def test_wrong_or_missing_key(server):
    with server.client(key="wrong") as wrong, pytest.raises(openai.AuthenticationError) as e:
        wrong.models.list()
    assert e.value.code == "invalid_api_key"
    with server.client(key=KEYS[1]) as other:
        assert other.models.list().data  # every key of MY_API_KEY works
    r = httpx.get(server.url + "/v1/models", headers={"Origin": "http://lobe.example"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"]  # CORS on errors too
    for public in ("/health", "/v1", "/v1/"):
        assert httpx.get(server.url + public).status_code == 200, public


BAD = [
    ("temperature", {"temperature": 2.5}),
    ("temperature", {"temperature": "hot"}),
    ("top_p", {"top_p": 1.5}),
    ("top_k", {"extra_body": {"top_k": -5}}),
    ("min_p", {"extra_body": {"min_p": 2}}),
    ("presence_penalty", {"presence_penalty": 3}),
    ("frequency_penalty", {"frequency_penalty": -2.5}),
    ("repetition_penalty", {"extra_body": {"repetition_penalty": 0}}),
    ("max_tokens", {"max_tokens": 0}),
    ("max_completion_tokens", {"max_completion_tokens": 10**6}),
    ("n", {"n": 11}),
    ("n", {"n": 0}),
    ("stop", {"stop": [1, 2]}),
    ("seed", {"seed": "x"}),
    ("logit_bias", {"logit_bias": {"abc": 1}}),
    ("logit_bias", {"logit_bias": {"5": 101}}),
    ("logit_bias", {"logit_bias": {"60000": 1}}),
    ("top_logprobs", {"top_logprobs": 3}),
    ("top_logprobs", {"logprobs": True, "top_logprobs": 21}),
    ("stream_options", {"stream_options": {"include_usage": True}}),
    ("tool_choice", {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                     "tool_choice": "required"}),
    ("tool_choice", {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                     "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    ("messages[1].content", {"messages": [CHAT[0], {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}),
    ("messages[0].role", {"messages": [{"role": "critic", "content": "x"}]}),
    ("messages", {"messages": []}),
]


@pytest.mark.parametrize("param,kwargs", BAD, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD)])
def test_bad_chat_parameter(client, param, kwargs):
    args = {"model": TINY, "messages": CHAT, "max_tokens": 2, **kwargs}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(**args)
    assert e.value.param == param and e.value.type == "invalid_request_error"


@pytest.mark.parametrize("param,kwargs", [
    ("echo", {"echo": True}), ("suffix", {"suffix": "end"}), ("best_of", {"best_of": 3}),
    ("prompt", {"prompt": []}), ("prompt", {"prompt": [[50257]]}), ("logprobs", {"logprobs": 21}),
])
def test_bad_completion_parameter(client, param, kwargs):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(**{"model": TINY, "prompt": "x", "max_tokens": 2, **kwargs})
    assert e.value.param == param


@pytest.mark.parametrize("model_id", ["nope", "../tiny.pt", "..%2Ftiny.pt", "/etc/passwd", "notes.txt",
                                      "tiny-hf/config.json", "."])
def test_unknown_or_traversal_model(client, model_id):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model=model_id, prompt="x", max_tokens=1)
    assert e.value.code == "model_not_found"
    if model_id not in (".", "../tiny.pt"):  # the SDK itself refuses dot segments in a path
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(model_id)


def test_encoded_slash_in_model_path(server):
    for path in ["/v1/models/..%2F..%2Fetc%2Fpasswd", "/v1/models/%2Fetc%2Fpasswd", "/v1/models//etc/passwd",
                 "/v1/models/..%2Ftiny.pt", "/v1/models/%2E%2E%2Fmedium.pt"]:
        r = httpx.get(server.url + path, headers={"Authorization": f"Bearer {KEYS[0]}"})
        assert r.status_code == 404 and r.json()["error"]["code"] in ("model_not_found", "not_found"), path


def test_body_too_large(client):
    with pytest.raises(openai.APIStatusError) as e:
        client.completions.create(model=TINY, prompt="x" * 100_000, max_tokens=1)
    assert e.value.status_code == 413 and e.value.code == "request_too_large"


def test_bad_json(server):
    r = httpx.post(server.url + "/v1/completions", content=b"{not json", headers={
        "Authorization": f"Bearer {KEYS[0]}", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_cors_preflight(server):
    headers = {"Origin": "https://chat.example", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os,x-stainless-timeout"}
    r = httpx.options(server.url + "/v1/chat/completions", headers=headers)  # no key: browsers send none
    assert r.status_code == 200
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-stainless-os", "x-stainless-timeout"} <= allowed
    assert r.headers["access-control-allow-origin"] in ("*", "https://chat.example")
    assert "POST" in r.headers["access-control-allow-methods"]

