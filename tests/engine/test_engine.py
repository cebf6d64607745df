"""The engine without a server: plain threads (engine.THREADS), a tiny model, and the registry's contracts."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch

from checkpoints import tiny_model, write_nanogpt
from engine import Engine, Failure, ModelBusy, ModelNotFound, ModelNotLoadable, Registry, Unavailable
from engine import request as request_module
from model.checkpoint import Checkpoint
from model.generate import generate
from model.loader import LoadedModel
from model.sampling import SamplingParams
from model.settings import ModelSettings
from model.tokenizer import gpt2_tokenizer

TOK = gpt2_tokenizer()


@pytest.fixture(scope="module")
def lm() -> LoadedModel:
    model = tiny_model(0)
    return LoadedModel(model, TOK, Checkpoint("tiny", "test", model.config, {}, TOK), torch.device("cpu"),
                       torch.float32)


def _wait(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("overlap", [False, True])  # True: the CUDA mode (model.generate.Decoder.step)
def test_two_requests_share_the_batch_and_finish(lm, overlap):
    engine = Engine(lm, max_batch=4, overlap=overlap)
    try:
        prompt = TOK.encode("Once upon")
        a = engine.submit([prompt], [SamplingParams(max_tokens=12, temperature=0)])
        b = engine.submit([prompt] * 2, [SamplingParams(max_tokens=8, temperature=0)] * 2)
        outs_b = list(b.outputs())
        outs_a = list(a.outputs())
        assert [o.n_tokens for o in outs_a][-1] == 12 and outs_a[-1].finish_reason == "length"
        assert "".join(o.text for o in outs_a) == generate(lm, [prompt], SamplingParams(12, temperature=0))[0].text
        assert {o.choice for o in outs_b} == {0, 1}
        _wait(lambda: engine.idle)
    finally:
        engine.stop()
        assert engine.join(10)


@pytest.mark.parametrize("overlap", [False, True])
def test_a_request_nobody_reads_is_ended(lm, monkeypatch, overlap):
    monkeypatch.setattr(request_module, "MAX_UNREAD", 50)
    engine = Engine(lm, max_batch=2, overlap=overlap)
    try:
        request = engine.submit([TOK.encode("Once")] * 2, [SamplingParams(max_tokens=4000, ignore_eos=True)] * 2)
        _wait(lambda: engine.idle)  # nobody calls request.outputs()
        outputs = list(request.outputs())
        assert len(outputs) < 60 and isinstance(outputs[-1], Failure)
        assert outputs[-1].error.code == "client_not_reading"
    finally:
        engine.stop()


def test_stop_fails_what_is_in_flight_and_refuses_more(lm):
    engine = Engine(lm, max_batch=1)
    running = engine.submit([TOK.encode("Once")], [SamplingParams(max_tokens=4000, ignore_eos=True)])
    queued = engine.submit([TOK.encode("Twice")], [SamplingParams(max_tokens=5)])
    _wait(lambda: engine.running == 1)
    engine.stop()
    for request in (running, queued):
        last = list(request.outputs())[-1]
        assert isinstance(last, Failure) and isinstance(last.error, Unavailable)
        assert last.error.code == "model_unloading"
    with pytest.raises(Unavailable):
        engine.submit([TOK.encode("x")], [SamplingParams(max_tokens=1)])
    assert engine.join(10)


def _config(model_dir, checkpoint) -> SimpleNamespace:
    return SimpleNamespace(model=ModelSettings(checkpoint=str(checkpoint), device="cpu"), model_dir=str(model_dir),
                           served_model_name=None, chat_format=None, max_batch=2, max_queue=4, kv_cache_mb=0,
                           prefill_tokens=0, prefix_cache_mb=0, model_cache_size=2,
                           engine_process="auto")


def test_registry_contracts(tmp_path):
    write_nanogpt(tmp_path / "tiny.pt", tiny_model(0))
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    registry = Registry(_config(tmp_path, tmp_path / "tiny.pt"))
    try:
        with pytest.raises(ModelNotFound):
            registry.get("nothing.pt")
        with pytest.raises(ModelNotLoadable):
            registry.get("broken.pt")
        served = registry.get(None)
        assert served.id == "tiny.pt" and [m.id for m in registry.loaded()] == ["tiny.pt"]
        request = served.engine.submit([TOK.encode("Once")], [SamplingParams(max_tokens=4000, ignore_eos=True)])
        _wait(lambda: served.engine.running == 1)
        with pytest.raises(ModelBusy):
            registry.unload("tiny.pt")
        assert registry.unload("tiny.pt", force=True) and registry.loaded() == []
        assert list(request.outputs())[-1].error.code == "model_unloading"
        assert not registry.unload("tiny.pt")  # not loaded any more
    finally:
        registry.close()


def test_registry_sees_a_new_checkpoint_at_once_and_a_removed_one_within_the_scan_interval(tmp_path, monkeypatch):
    from engine import registry as registry_module
    write_nanogpt(tmp_path / "tiny.pt", tiny_model(0))
    registry = Registry(_config(tmp_path, tmp_path / "tiny.pt"))
    try:
        assert registry.resolve(None)[0] == "tiny.pt"
        write_nanogpt(tmp_path / "new.pt", tiny_model(1))
        assert registry.resolve("new.pt") == ("new.pt", tmp_path / "new.pt")  # an unknown id scans again
        (tmp_path / "new.pt").unlink()
        assert registry.resolve("new.pt")[0] == "new.pt"  # within the interval, the last scan answers
        monkeypatch.setattr(registry_module, "LISTING_TTL_S", 0.0)
        with pytest.raises(ModelNotFound):
            registry.resolve("new.pt")
    finally:
        registry.close()
