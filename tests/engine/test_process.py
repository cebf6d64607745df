"""engine/process.py: a model's Engine in a child process, used through the same interface as an Engine in this
one (ENGINE_PROCESS=1; auto on CUDA). Real children, real checkpoints; the answers are compared with an Engine
running here on the same file."""
from __future__ import annotations

import os
import signal
import time
from types import SimpleNamespace

import pytest

from checkpoints import tiny_model, write_nanogpt
from engine import THREADS, Engine, Failure, ModelNotLoadable, Registry
from engine import request as request_module
from engine.process import ProcessEngine
from model.checkpoint import CheckpointError
from model.loader import load_model
from model.sampling import SamplingParams
from model.settings import ModelSettings

CPU = ModelSettings(checkpoint="unused", device="cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_nanogpt(tmp_path_factory.mktemp("models") / "tiny.pt", tiny_model(0))


@pytest.fixture(scope="module")
def remote(tiny):
    engine = ProcessEngine(tiny, CPU, THREADS, max_batch=4)
    yield engine
    engine.stop()
    assert engine.join(30)


def _wait(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _answers(engine, prompts, params) -> list[tuple]:
    request = engine.submit(prompts, params)
    return [(o.choice, o.token, o.text, o.logprob, o.finish_reason, o.n_tokens) for o in request.outputs()]


def test_the_child_answers_as_an_engine_here_does(remote, tiny):
    here = Engine(load_model(tiny, "cpu", panels=True), max_batch=4)  # as the child loads it to serve
    try:
        tok = remote.lm.tokenizer
        prompts = [tok.encode("Once upon"), tok.encode("The")]
        for params in ([SamplingParams(max_tokens=12, temperature=0, logprobs=3)] * 2,
                       [SamplingParams(max_tokens=9, temperature=0.9, seed=5, stop=("e",))] * 2):
            assert _answers(remote, prompts, params) == _answers(here, prompts, params)
        assert remote.lm.parameters == here.lm.parameters  # /v1/models reads it
        assert (remote.lm.device.type, remote.lm.dtype, remote.max_batch) == ("cpu", here.lm.dtype, 4)
    finally:
        here.stop()
    _wait(lambda: remote.idle)


def test_a_request_closed_midway_is_cancelled_in_the_child(remote):
    request = remote.submit([remote.lm.tokenizer.encode("Once")], [SamplingParams(max_tokens=4000, ignore_eos=True)])
    outputs = request.outputs()
    next(outputs)
    assert remote.in_flight == 1
    request.close()
    _wait(lambda: remote.idle and remote.running == 0)
    # and it still serves
    assert _answers(remote, [[464]], [SamplingParams(max_tokens=3, temperature=0)])[-1][4] == "length"


def test_a_request_nobody_reads_is_ended_by_the_parent(remote, monkeypatch):
    # the child hands every step over at once, so the worker's side is where unread outputs pile up
    monkeypatch.setattr(request_module, "MAX_UNREAD", 50)
    request = remote.submit([[464]] * 2, [SamplingParams(max_tokens=4000, ignore_eos=True)] * 2)
    _wait(lambda: remote.idle)  # nobody calls request.outputs()
    outputs = list(request.outputs())
    assert len(outputs) < 4000 and isinstance(outputs[-1], Failure)
    assert outputs[-1].error.code == "client_not_reading"


def test_a_bad_checkpoint_fails_in_the_parent_as_it_would_here(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as raised:
        ProcessEngine(broken, CPU, THREADS)
    assert raised.value.path == str(broken) and raised.value.problem


def test_a_child_that_dies_fails_what_is_in_flight_and_the_registry_loads_it_again(tiny):
    config = SimpleNamespace(model=ModelSettings(checkpoint=str(tiny), device="cpu"), model_dir=str(tiny.parent),
                             served_model_name=None, chat_format=None, max_batch=2, max_queue=4, kv_cache_mb=0,
                             prefill_tokens=0, prefix_cache_mb=0, model_cache_size=2,
                             engine_process="1")
    registry = Registry(config)
    try:
        served = registry.get(None)
        assert isinstance(served.engine, ProcessEngine)
        request = served.engine.submit([[464]], [SamplingParams(max_tokens=4000, ignore_eos=True)])
        _wait(lambda: served.engine.running == 1)
        os.kill(served.engine.pid, signal.SIGKILL)  # an OOM kill, say
        last = list(request.outputs())[-1]
        assert isinstance(last, Failure) and last.error.code == "engine_exited"
        again = registry.get(None)
        assert again.engine is not served.engine
        assert _answers(again.engine, [[464]], [SamplingParams(max_tokens=2, temperature=0)])[-1][5] == 2
        assert registry.unload("tiny.pt") and registry.loaded() == []  # the operator route's unload
        with pytest.raises(ProcessLookupError):  # the child has exited and was reaped
            os.kill(again.engine.pid, 0)
    finally:
        registry.close()


def test_a_broken_file_through_the_registry_is_not_loadable(tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"nope")
    config = SimpleNamespace(model=ModelSettings(checkpoint=str(tmp_path / "broken.pt"), device="cpu"),
                             model_dir=str(tmp_path), served_model_name=None, chat_format=None, max_batch=2,
                             max_queue=4, kv_cache_mb=0, prefill_tokens=0, prefix_cache_mb=0,
                             model_cache_size=2, engine_process="1")
    with pytest.raises(ModelNotLoadable):
        Registry(config).get(None)
