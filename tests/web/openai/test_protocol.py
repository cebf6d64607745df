"""Request parsing and response building with plain dicts: no Flask, no model."""
from __future__ import annotations

import json

import pytest

from web.openai import responses as r
from web import sse
from web.auth import KeyChecker
from engine.chat_format import ChatFormat, for_checkpoint, sidecar
from web.config import DEFAULT_API_KEY, ServerConfig
from web.errors import APIError, BadRequest, Unauthorized
from engine import Message
from web.openai.protocol import DEFAULTS, MAX_LOGIT_BIAS, MAX_STOP_CHARS, parse_chat, parse_completion

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat(**kw):
    return parse_chat({**CHAT, **kw})


def bad(parse, body) -> BadRequest:
    with pytest.raises(BadRequest) as e:
        parse(body)
    assert e.value.status == 400 and e.value.type == "invalid_request_error"
    return e.value


def test_defaults_are_the_flask_servers():
    req = chat()
    assert (req.max_tokens, req.temperature, req.top_k, req.top_p) == (150, 0.7, 50, 0.9) == tuple(DEFAULTS.values())
    assert req.n == 1 and not req.stream and req.logprobs is None and req.stop == ()
    assert parse_completion({"prompt": "x"}).max_tokens == 150


@pytest.mark.parametrize("field,value", [
    ("temperature", -0.1), ("temperature", 2.01), ("temperature", True), ("temperature", float("nan")),
    ("top_p", 1.01), ("top_k", -2), ("top_k", 1.5), ("min_p", -1), ("presence_penalty", 2.1),
    ("frequency_penalty", -3), ("repetition_penalty", 0), ("max_tokens", 0), ("max_tokens", 5000),
    ("max_completion_tokens", -1), ("n", 11), ("seed", 2**64), ("seed", "1"), ("stop", 5), ("stop", ["a"] * 17),
    ("logit_bias", []), ("logit_bias", {"x": 1}), ("logit_bias", {"-1": 1}), ("logit_bias", {"1": -101}),
    ("stream", "yes"), ("ignore_eos", 1), ("user", 5), ("model", 3), ("top_logprobs", 2),
])
def test_out_of_range_names_the_param(field, value):
    assert bad(parse_chat, {**CHAT, field: value}).param == field


@pytest.mark.parametrize("field,value", [
    ("tool_choice", "required"), ("tool_choice", {"type": "function", "function": {"name": "f"}}),
    ("function_call", {"name": "f"}), ("best_of", 2),
    ("modalities", ["audio"]), ("audio", {"voice": "x"}),
])
def test_unsupported_fields_are_named(field, value):
    err = bad(parse_chat, {**CHAT, "tools": OPEN_WEBUI_TOOLS, field: value})
    assert err.param == field and err.code == "unsupported_parameter" and "not supported" in err.message


def test_harmless_values_of_unsupported_fields_pass():
    req = parse_chat({**CHAT, "tools": [], "tool_choice": "none", "response_format": {"type": "text"},
                      "best_of": 1, "parallel_tool_calls": False, "metadata": {"a": 1}, "user": "u",
                      "unknown_field": 1})
    assert req.user == "u"


# what Open WebUI sends with every chat: its 36 built-in tools, no tool_choice
OPEN_WEBUI_TOOLS = [{"type": "function", "function": {
    "name": f"tool_{i}", "description": "A built-in tool of the chat UI.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"},
                                                    "options": {"type": "object", "properties": {
                                                        "depth": {"type": "integer"}}}},
                   "required": ["query"]}}} for i in range(36)]


@pytest.mark.parametrize("extra", [
    {"tools": OPEN_WEBUI_TOOLS}, {"tools": OPEN_WEBUI_TOOLS, "tool_choice": "auto"},
    {"tools": OPEN_WEBUI_TOOLS, "tool_choice": "none", "parallel_tool_calls": True}, {"tools": []},
    {"functions": [{"name": "f", "parameters": {}}], "function_call": "auto"}, {"function_call": "none"},
], ids=["no-tool_choice", "auto", "none", "empty", "functions", "function_call-none"])
def test_tools_are_accepted_and_answered_in_text(extra):
    req = parse_chat({**CHAT, **extra})
    assert req.messages == [Message("user", "hi")]


@pytest.mark.parametrize("value", ["search", [1], [[]], {"type": "function"}])
def test_malformed_tools_are_a_400(value):
    err = bad(parse_chat, {**CHAT, "tools": value})
    assert err.param.startswith("tools") and err.code == "invalid_type"


def test_a_history_with_tool_calls_reads_as_text():
    # a chat UI's conversation that went through another model's tool calls, then switched to ours
    req = parse_chat({"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}, {"id": "c2", "type": "function", "function": {
            "name": "now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "assistant", "content": "Let me check.", "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "ok"}]})
    assert req.messages == [Message("user", "Weather in Paris?"),
                            Message("assistant", 'get_weather({"city": "Paris"})\nnow({})'),
                            Message("tool", "18C"), Message("tool", "noon"),
                            Message("assistant", "Let me check.\nf({})"), Message("tool", "ok")]
    assert ChatFormat().render(req.messages[:3]) == \
        'User: Weather in Paris?\nAssistant: get_weather({"city": "Paris"})\nnow({})\nTool: 18C\nAssistant:'
    call = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"arguments": "{}"}}]}
    assert bad(parse_chat, {"messages": [call]}).param == "messages[0].tool_calls[0].function.name"
    assert bad(parse_chat, {"messages": [{"role": "assistant", "tool_calls": "f"}]}).param == "messages[0].tool_calls"


@pytest.mark.parametrize("role", [{}, [], 5, None, "x" * 100_000])
def test_unhashable_or_odd_roles_name_the_field(role):
    err = bad(parse_chat, {"messages": [{"role": "user", "content": "a"}, {"role": role, "content": "b"}]})
    assert err.param == "messages[1].role" and len(err.message) < 200  # never the input echoed back


@pytest.mark.parametrize("field", ["temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty",
                                   "repetition_penalty", "max_tokens", "top_k", "seed", "n"])
def test_a_400_digit_integer_is_out_of_range(field):
    err = bad(parse_chat, {**CHAT, field: 10**400})
    assert err.param == field and err.code == "invalid_value" and len(err.message) < 200


def test_caps_of_logit_bias_and_stop():
    full = {str(t): 1 for t in range(MAX_LOGIT_BIAS)}
    assert len(chat(logit_bias=full).logit_bias) == MAX_LOGIT_BIAS
    err = bad(parse_chat, {**CHAT, "logit_bias": {str(t): -100 for t in range(50_257)}})  # every GPT-2 token
    assert err.param == "logit_bias" and str(MAX_LOGIT_BIAS) in err.message
    assert chat(stop=["x" * MAX_STOP_CHARS]).stop == ("x" * MAX_STOP_CHARS,)
    for stop in ("x" * (MAX_STOP_CHARS + 1), ["a", "x" * (MAX_STOP_CHARS + 1)]):
        err = bad(parse_chat, {**CHAT, "stop": stop})
        assert err.param == "stop" and str(MAX_STOP_CHARS) in err.message


def test_ranges_accept_their_bounds():
    req = chat(temperature=0, top_p=0, top_k=-1, min_p=1, presence_penalty=-2, frequency_penalty=2, n=10,
               max_tokens=4096, seed=-5, stop="\n", logit_bias={"50256": -100})
    assert req.top_k == 0 and req.stop == ("\n",) and req.logit_bias == {50256: -100.0}
    assert req.sampling_params().greedy


def test_max_completion_tokens_wins():
    assert chat(max_tokens=10, max_completion_tokens=20).max_tokens == 20
    assert chat(max_tokens=10).max_tokens == 10
    assert bad(lambda b: parse_chat(b, max_tokens_limit=100), {**CHAT, "max_tokens": 101}).param == "max_tokens"


def test_stream_options_need_stream():
    assert bad(parse_chat, {**CHAT, "stream_options": {"include_usage": True}}).param == "stream_options"
    assert chat(stream=True, stream_options={"include_usage": True}).include_usage
    assert not chat(stream=True).include_usage
    err = bad(parse_chat, {**CHAT, "stream": True, "stream_options": {"include_usage": "y"}})
    assert err.param == "stream_options.include_usage"


def test_messages():
    req = parse_chat({"messages": [
        {"role": "developer", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "name": "x"},
        {"role": "assistant", "content": None}]})
    assert req.model is None
    assert req.messages == [Message("system", "sys"), Message("user", "ab"), Message("assistant", "")]
    assert bad(parse_chat, {"messages": "hi"}).param == "messages"
    assert bad(parse_chat, {}).param == "messages"
    assert bad(parse_chat, {"messages": [{"role": "critic", "content": "x"}]}).param == "messages[0].role"
    assert bad(parse_chat, {"messages": [{"role": "user", "content": 5}]}).param == "messages[0].content"
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}
    assert bad(parse_chat, {"messages": [image]}).param == "messages[0].content"


def test_chat_logprobs():
    assert chat(logprobs=True).logprobs == 0
    assert chat(logprobs=True, top_logprobs=5).logprobs == 5
    assert chat(logprobs=False).logprobs is None
    assert bad(parse_chat, {**CHAT, "logprobs": 3}).param == "logprobs"


@pytest.mark.parametrize("prompt,expected", [
    ("a", ["a"]), (["a", "b"], ["a", "b"]), ([1, 2], [[1, 2]]), ([[1], [2, 3]], [[1], [2, 3]]), ("", [""]),
    (["a", [5]], ["a", [5]]),
])
def test_prompt_forms(prompt, expected):
    assert parse_completion({"prompt": prompt}).prompts == expected


@pytest.mark.parametrize("body,param", [
    ({}, "prompt"), ({"prompt": []}, "prompt"), ({"prompt": [[]]}, "prompt"), ({"prompt": [True]}, "prompt"),
    ({"prompt": 5}, "prompt"), ({"prompt": "x", "echo": True}, "echo"), ({"prompt": "x", "suffix": "y"}, "suffix"),
    ({"prompt": "x", "logprobs": 21}, "logprobs"), ({"prompt": ["x"] * 20, "n": 10}, "prompt"),
    ({"prompt": "x", "logprobs": True}, "logprobs"),
])
def test_bad_completions(body, param):
    assert bad(parse_completion, body).param == param


def test_completion_allows_echo_false_and_empty_suffix():
    req = parse_completion({"prompt": "x", "echo": False, "suffix": "", "logprobs": 3})
    assert req.logprobs == 3


def test_body_must_be_an_object():
    assert bad(parse_chat, [1, 2]).code == "invalid_json"


def test_sampling_params_per_choice():
    req = chat(seed=7, stop=["END"], n=3, temperature=0.5)
    p0, p2 = req.sampling_params(0, ("\nUser:",)), req.sampling_params(2, ("\nUser:",))
    assert (p0.seed, p2.seed) == (7, 9) and p0.stop == ("END", "\nUser:") and p0.temperature == 0.5
    assert chat().sampling_params(1).seed is None


def test_chat_format_render_and_stop():
    fmt = ChatFormat()
    text = fmt.render([Message("system", "Be {nice}."), Message("user", "Hi"), Message("assistant", "Hello!"),
                       Message("user", "Bye")])
    assert text == "Be {nice}.\n\nUser: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:"
    assert fmt.stop == ("\nUser:",)


def test_chat_format_sidecar(tmp_path):
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"")
    assert sidecar(ckpt) == tmp_path / "m.chat.json"
    assert for_checkpoint(ckpt, ChatFormat()) == ChatFormat()
    sidecar(ckpt).write_text(json.dumps({"user": "Q: {content}\n", "assistant": "A: {content}\n",
                                         "generation_prompt": "A:", "stop": "\nQ:"}))
    fmt = for_checkpoint(ckpt, ChatFormat())
    assert fmt.render([Message("user", "x")]) == "Q: x\nA:" and fmt.stop == ("\nQ:",)
    sidecar(ckpt).write_text(json.dumps({"bogus": 1}))
    assert for_checkpoint(ckpt, ChatFormat()) == ChatFormat()  # a bad sidecar falls back, with a warning
    folder = tmp_path / "hf"
    folder.mkdir()
    assert sidecar(folder) == folder / "chat.json"


def test_sse_frames():
    frame = sse.frame({"a": "line\nbreak", "b": "中"})
    assert frame.startswith("data: {") and frame.endswith("}\n\n") and frame.count("\n") == 2 and "中" in frame
    assert sse.DONE == "data: [DONE]\n\n" and sse.KEEPALIVE.startswith(":")


def test_response_shapes():
    info = r.TokenInfo("Hi", [72, 105], -0.5, [("Hi", [72, 105], -0.5), (" a", [32, 97], -1.5)])
    choice = r.Choice(0, "Hi", "length", [info])
    c = r.completion("cmpl-1", 5, "m", [choice], r.usage(2, 1, 0))
    assert c["choices"][0]["logprobs"] == {"tokens": ["Hi"], "token_logprobs": [-0.5],
                                           "top_logprobs": [{"Hi": -0.5, " a": -1.5}], "text_offset": [0]}
    assert c["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3,
                          "prompt_tokens_details": {"cached_tokens": 0}}
    ch = r.chat_completion("chatcmpl-1", 5, "m", [choice], r.usage(2, 1, 0))
    assert ch["choices"][0]["message"] == {"role": "assistant", "content": "Hi"}
    assert ch["choices"][0]["logprobs"]["content"][0]["top_logprobs"][1] == {"token": " a", "logprob": -1.5,
                                                                              "bytes": [32, 97]}
    chunk = r.chat_chunk("x", 1, "m", 2, {}, finish_reason="stop")
    assert chunk["choices"][0] == {"index": 2, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert r.usage_chunk("x", 1, "m", "chat.completion.chunk", r.usage(1, 1, 0))["choices"] == []
    assert r.model_card("m", 3)["root"] == "m"


def test_error_body():
    err = BadRequest("nope", "temperature", "invalid_value")
    assert err.body() == {"error": {"message": "nope", "type": "invalid_request_error", "param": "temperature",
                                    "code": "invalid_value"}}
    assert APIError("bug").status == 500


def test_keys():
    keys = KeyChecker(("a", "bb"))
    keys.check("Bearer bb")
    keys.check("bearer a")
    for header in (None, "", "Bearer", "Basic a", "Bearer c", "Bearer aa"):
        with pytest.raises(Unauthorized):
            keys.check(header)


def test_config_from_env():
    cfg = ServerConfig.from_env({})
    assert cfg.api_keys == (DEFAULT_API_KEY,) and cfg.default_key and cfg.port == 5002 and cfg.model_dir == "log"
    assert cfg.host == "0.0.0.0" and cfg.served_model_name is None and cfg.model.checkpoint.endswith("shakespeare-12m.pt")
    cfg = ServerConfig.from_env({"MY_API_KEY": " k1, k2 ,", "PORT": "9000", "MODEL_DIR": "ckpts", "DEVICE": "cpu",
                                 "SERVED_MODEL_NAME": "gpt2-mini", "MAX_BATCH": "4"})
    assert cfg.api_keys == ("k1", "k2") and not cfg.default_key and cfg.port == 9000 and cfg.max_batch == 4
    assert cfg.model.device == "cpu" and cfg.served_model_name == "gpt2-mini" and cfg.model_dir == "ckpts"
    with pytest.raises(ValueError, match="PORT"):
        ServerConfig.from_env({"PORT": "x"})
    model = ServerConfig.from_env({"DTYPE": "bf16", "QUANTIZE": "int8", "KV_CACHE_DTYPE": "bfloat16",
                                   "MODEL_GELU": "tanh"}).model
    assert (model.dtype, model.quantize, model.kv_cache_dtype, model.gelu) == ("bf16", "int8", "bfloat16", "tanh")
    assert ServerConfig.from_env({"MODEL_GELU": ""}).model.gelu is None  # the checkpoint's own GELU


@pytest.mark.parametrize("name", ["DTYPE", "QUANTIZE", "KV_CACHE_DTYPE", "MODEL_GELU", "ENGINE_PROCESS"])
def test_a_setting_outside_its_choices_stops_the_server_at_startup(name):
    # rather than a 500 for every request once the model loads
    with pytest.raises(ValueError, match=f"{name} must be one of .*, not 'int4'"):
        ServerConfig.from_env({name: "int4"})


def test_default_key_warns_loudly(caplog):
    ServerConfig.from_env({}).warn_if_insecure()
    assert "MY_API_KEY is not set" in caplog.text
    caplog.clear()
    ServerConfig.from_env({"MY_API_KEY": "s"}).warn_if_insecure()
    assert caplog.text == ""
