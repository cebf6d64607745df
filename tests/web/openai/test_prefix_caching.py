"""A multi-turn chat through the openai SDK: later turns read their history from the prefix cache, say so in
usage and on /metrics, and answer as a server without the cache does."""
from __future__ import annotations

import re

import httpx

from live_server import KEYS, MEDIUM

TURNS = ["Tell me about the sea and the ships upon it, and the men who sail them far from home.",
         "And what of the storms that come in winter, when the nights are long and cold?",
         "Which of them return, and what do they bring back to the harbour at dawn?"]


def converse(client, stream: bool = False) -> list[tuple[str, int, int]]:
    """(answer, prompt_tokens, cached_tokens) per turn, each turn resending the whole conversation."""
    messages, out = [{"role": "system", "content": "You answer in the voice of an old sailor."}], []
    for text in TURNS:
        messages.append({"role": "user", "content": text})
        kw = dict(model=MEDIUM, messages=messages, max_tokens=12, temperature=0)
        if stream:
            chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
            answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            usage = chunks[-1].usage
        else:
            res = client.chat.completions.create(**kw)
            answer, usage = res.choices[0].message.content, res.usage
        out.append((answer, usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens))
        messages.append({"role": "assistant", "content": answer})
    return out


def counter(metrics: str, name: str) -> float:
    return float(re.search(rf'^{re.escape(name)}_total{{model_name="{MEDIUM}"}} (\S+)$', metrics, re.M).group(1))


def test_later_turns_are_cached_and_answer_the_same(servers):
    # its own gunicorn server: the counters on /metrics are this test's alone
    cached_server, plain_server = servers("gunicorn", PREFIX_CACHE_MB="64"), servers("dev", PREFIX_CACHE_MB="0")
    with cached_server.client() as c:
        with_cache = converse(c)
        streamed = converse(c, stream=True)  # the same conversation again: even its first turn is cached now
    with plain_server.client() as c:
        without = converse(c)
    assert [a for a, *_ in with_cache] == [a for a, *_ in without] == [a for a, *_ in streamed]
    assert [cached for *_, cached in without] == [0, 0, 0]
    first, *later = with_cache
    assert first[2] == 0
    for answer, prompt_tokens, cached in later:  # all but the new message and the block it ends in
        assert prompt_tokens - 60 < cached < prompt_tokens
    assert all(cached > 0 for *_, cached in streamed)
    metrics = httpx.get(cached_server.url + "/metrics", headers={"Authorization": f"Bearer {KEYS[0]}"}).text
    hits, queries = counter(metrics, "vllm:prefix_cache_hits"), counter(metrics, "vllm:prefix_cache_queries")
    assert hits == sum(cached for *_, cached in with_cache + streamed)
    assert queries == sum(p for _, p, _ in with_cache + streamed)
