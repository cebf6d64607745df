"""Coalesced stream chunks (issue 16): a reader that fell behind takes every waiting output at once and sends, per
choice, one chunk of their joined text and logprobs. The reassembled stream must be exactly what a stream of one
chunk per token gives, and what the non-streamed answer of the same request says; metrics stay exact.

In-process (Flask test client): a monkeypatched reader either takes one output per wake-up (the stream as it was
before coalescing) or sleeps before each wake-up's frames (a slow client, so the engine gets ahead of it)."""
from __future__ import annotations

import json
import time
from collections import defaultdict

import pytest
from openai.types.chat import ChatCompletionChunk

from live_server import KEYS, TINY
from engine.mailbox import TIMEOUT, Mailbox
from web import metrics, sse
from web.openai import serving

AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
N_TOKENS = 24
BODIES = {
    "/v1/completions": {"model": TINY, "prompt": "Once upon a time", "max_tokens": N_TOKENS, "n": 2,
                        "temperature": 1.0, "seed": 5, "logprobs": 3, "ignore_eos": True,
                        "stream_options": {"include_usage": True}},
    "/v1/chat/completions": {"model": TINY, "messages": [{"role": "user", "content": "Good morrow"}],
                             "max_tokens": N_TOKENS, "n": 2, "temperature": 1.0, "seed": 5, "logprobs": True,
                             "top_logprobs": 2, "ignore_eos": True, "stream_options": {"include_usage": True}},
}


def _frames(response) -> list:
    raw = response.get_data(as_text=True)
    blocks = [b for b in raw.split("\n\n") if b]
    assert all(b.startswith("data: ") and "\n" not in b for b in blocks)  # one line per frame, no comments
    assert blocks[-1] == "data: [DONE]"
    return [json.loads(b[len("data: "):]) for b in blocks[:-1]]


def _stream(client, path: str) -> list[dict]:
    res = client.post(path, json={**BODIES[path], "stream": True}, headers=AUTH)
    assert res.status_code == 200
    return _frames(res)


def _whole(client, path: str) -> dict:
    body = {k: v for k, v in BODIES[path].items() if k != "stream_options"}
    res = client.post(path, json=body, headers=AUTH)
    assert res.status_code == 200
    return res.json


def _tokens_in(choice: dict) -> int:
    """How many tokens one chunk choice carries (its logprobs entries)."""
    lp = choice["logprobs"]
    return 0 if lp is None else len(lp["content"] if "content" in lp else lp["tokens"])


def _reassemble(chunks: list[dict], chat: bool) -> tuple[dict, dict]:
    """Per choice: its text, finish_reason and concatenated logprobs lists; and the usage. Checks the order a
    client relies on: per choice the role chunk first (chat), deltas, then the finish chunk; usage last."""
    choices: dict[int, dict] = defaultdict(lambda: {"text": "", "finish_reason": None, "logprobs": defaultdict(list),
                                                    "chunks": 0})
    for chunk in chunks[:-1]:
        if chat:  # the SDK's type of a completion chunk is its whole answer's, whose finish_reason is required
            ChatCompletionChunk.model_validate(chunk)
        else:
            assert set(chunk) == {"id", "object", "created", "model", "choices"}
        (c,) = chunk["choices"]
        got = choices[c["index"]]
        assert got["finish_reason"] is None  # nothing after a choice's finish chunk
        if chat and got["chunks"] == 0:
            assert c["delta"] == {"role": "assistant", "content": ""}
        got["chunks"] += 1
        got["text"] += c["delta"].get("content") or "" if chat else c["text"]
        got["finish_reason"] = c["finish_reason"]
        for key, values in (c["logprobs"] or {}).items():
            got["logprobs"][key].extend(values)
    usage = chunks[-1]
    assert usage["choices"] == [] and all(c["finish_reason"] for c in choices.values())
    return {i: {"text": c["text"], "finish_reason": c["finish_reason"], "logprobs": dict(c["logprobs"])}
            for i, c in sorted(choices.items())}, usage["usage"]


def _one_output_per_wakeup(self: Mailbox, timeout: float | None = None):
    item = self.get(timeout)
    return TIMEOUT if item is TIMEOUT else [item]


def _slow_reader(monkeypatch) -> None:
    """The request side lags: each wake-up's frames wait a few of the engine's steps, as a blocked write would."""
    by_choice = serving._by_choice

    def slow(outs):
        time.sleep(0.05)
        return by_choice(outs)

    monkeypatch.setattr(serving, "_by_choice", slow)


COUNTS = ("vllm:time_to_first_token_seconds_count", "vllm:e2e_request_latency_seconds_count",
          "vllm:inter_token_latency_seconds_count", "vllm:generation_tokens_total")


def _sample(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"model_name": TINY}) or 0.0


@pytest.mark.parametrize("path", list(BODIES))
def test_coalesced_chunks_reassemble_to_the_same_answer(make_app, monkeypatch, path):
    chat = "chat" in path
    client = make_app().test_client()
    whole = _whole(client, path)  # also loads the model
    with monkeypatch.context() as m:
        m.setattr(Mailbox, "get_all", _one_output_per_wakeup)
        per_token = _stream(client, path)
    assert all(_tokens_in(c["choices"][0]) <= 1 for c in per_token[:-1])

    _slow_reader(monkeypatch)
    before = {name: _sample(name) for name in COUNTS}
    coalesced = _stream(client, path)
    assert max(_tokens_in(c["choices"][0]) for c in coalesced[:-1]) > 1  # some chunk carried several tokens
    assert len(coalesced) < len(per_token)

    expected, expected_usage = _reassemble(per_token, chat)
    got, usage = _reassemble(coalesced, chat)
    assert got == expected and usage == expected_usage
    # and both are the non-streamed answer (text_offset aside: a stream counts it from the text shown so far)
    assert usage == whole["usage"] and usage["completion_tokens"] == 2 * N_TOKENS
    for i, c in got.items():
        ref = whole["choices"][i]
        assert c["text"] == (ref["message"]["content"] if chat else ref["text"])
        assert c["finish_reason"] == ref["finish_reason"] == "length"
        ref_lp = ref["logprobs"]
        assert ({k: v for k, v in c["logprobs"].items() if k != "text_offset"}
                == {k: v for k, v in ref_lp.items() if k != "text_offset"})
        if not chat:
            assert len(c["logprobs"]["text_offset"]) == N_TOKENS
    # metrics count every token once, however they were batched: one TTFT and N-1 ITL samples per choice
    added = {name: _sample(name) - before[name] for name in COUNTS}
    assert added == {"vllm:time_to_first_token_seconds_count": 2, "vllm:e2e_request_latency_seconds_count": 2,
                     "vllm:inter_token_latency_seconds_count": 2 * (N_TOKENS - 1),
                     "vllm:generation_tokens_total": 2 * N_TOKENS}

def test_coalesced_stream_without_logprobs_or_usage(make_app, monkeypatch):
    client = make_app().test_client()
    body = {"model": TINY, "prompt": "To be", "max_tokens": N_TOKENS, "temperature": 0, "ignore_eos": True,
            "stream": True}
    whole = client.post("/v1/completions", json={**body, "stream": False}, headers=AUTH).json
    _slow_reader(monkeypatch)
    chunks = _frames(client.post("/v1/completions", json=body, headers=AUTH))
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length" and len(chunks) < N_TOKENS
    assert all(c["choices"][0]["logprobs"] is None and "usage" not in c for c in chunks)


def test_frames_encode_once_per_stream_the_same_bytes(monkeypatch):
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m\"o\u00e9"}
    choice = {"index": 0, "delta": {"content": "line\nbreak 中 \u2028"}, "logprobs": None, "finish_reason": None}
    whole = sse.frame_bytes({**head, "choices": [choice]})
    assert sse.ChunkFrames(head).frame(choice) == whole
    assert whole.startswith(b"data: {") and whole.endswith(b"}\n\n") and whole.count(b"\n") == 2
    assert "中".encode() in whole  # UTF-8 as is, not \\u escapes
    assert json.loads(whole[len(b"data: "):]) == {**head, "choices": [choice]}
    assert sse.frame(choice) == whole_str(choice)
    monkeypatch.setattr(sse, "orjson", None)  # the json module's fallback writes the same bytes
    assert sse.ChunkFrames(head).frame(choice) == whole


def whole_str(payload: dict) -> str:
    return "data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n\n"


def test_a_lone_surrogate_is_escaped_not_an_error():
    data = sse.frame_bytes({"error": {"message": "bad \ud800"}})
    assert json.loads(data[len(b"data: "):])["error"]["message"] == "bad \ud800"
