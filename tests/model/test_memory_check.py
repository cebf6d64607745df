"""load_model refuses, before allocating, a model whose weights plus KV cache would not fit in available memory."""
import pytest
import torch

from checkpoints import TINY, tiny_model, write_nanogpt
from model import CheckpointError, load_model, read_checkpoint
from model import loader
from model.config import GPTConfig
from model.gpt import GPT
from model.kv_cache import KVCache
from model.loader import MEMORY_HEADROOM, ModelTooLarge, check_memory, memory_needed, weight_bytes
from model.quantize import weight_bytes as measured_bytes

CPU = torch.device("cpu")
CONFIG = GPTConfig(**TINY)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_nanogpt(tmp_path_factory.mktemp("ckpt") / "ckpt.pt", tiny_model())


def available(monkeypatch, n_bytes):
    monkeypatch.setattr(loader, "available_memory", lambda device: n_bytes)


def test_refused_before_any_model_is_built(ckpt, monkeypatch):
    available(monkeypatch, 1 << 20)

    def refuse(self, config):
        raise AssertionError("GPT was constructed")
    monkeypatch.setattr(GPT, "__init__", refuse)
    with pytest.raises(ModelTooLarge, match=r"ckpt.pt: the model does not fit in memory: cpu has 1.0 MiB available, "
                                            r"the model needs 6.\d MiB \(6.\d MiB of float32 weights \+ 0.0 MiB of "
                                            r"KV cache for 0 sequences of 64 tokens\) plus 10% headroom") as e:
        load_model(ckpt, device="cpu")
    assert isinstance(e.value, CheckpointError)  # the server's existing handling applies
    assert e.value.available == 1 << 20 and e.value.needed == weight_bytes(CONFIG, torch.float32)


def test_kv_slots_count(ckpt, monkeypatch):
    weights = weight_bytes(CONFIG, torch.float32)
    per_slot = KVCache.bytes_per_slot(CONFIG, CONFIG.block_size, torch.float32)
    assert per_slot == 2 * 2 * 64 * 32 * 4  # K and V, n_layer, block_size, n_embd, fp32
    available(monkeypatch, int((weights + 10 * per_slot) * MEMORY_HEADROOM) + 1)
    assert load_model(ckpt, device="cpu", kv_slots=10).model.config == CONFIG
    with pytest.raises(ModelTooLarge, match=r"of KV cache for 100 sequences of 64 tokens"):
        load_model(ckpt, device="cpu", kv_slots=100)
    # KV_CACHE_MB caps the slots the engine allocates (KVCache.slots_within): 1 MiB holds 32 here, not 100
    assert KVCache.slots_within(CONFIG, torch.float32, 100, 1) == 32
    available(monkeypatch, int((weights + 32 * per_slot) * MEMORY_HEADROOM) + 1)
    assert load_model(ckpt, device="cpu", kv_slots=100, kv_cache_mb=1).model.config == CONFIG


def test_int8_peak_is_the_unquantized_placement(monkeypatch):
    config = GPTConfig(**{**TINY, "n_embd": 256})
    full = weight_bytes(config, torch.float32)
    assert weight_bytes(config, torch.float32, "int8") < full / 2  # the tied embedding has two int8 copies on CPU
    assert memory_needed(config, torch.float32, 0, "int8") == full  # placed in fp32, then quantized
    available(monkeypatch, full)  # fits without headroom only
    with pytest.raises(ModelTooLarge, match=r"of float32 weights, placed before they are quantized"):
        check_memory(config, CPU, torch.float32, 0, "int8")


def test_unknown_free_memory_never_refuses(monkeypatch):
    available(monkeypatch, None)
    check_memory(GPTConfig(n_layer=1024, n_embd=65536, n_head=1), CPU, torch.float32, kv_slots=10**6)


def test_real_memory_check_passes_for_a_small_model(ckpt):
    assert loader.available_memory(CPU) is None or loader.available_memory(CPU) > 1 << 20
    load_model(ckpt, device="cpu", kv_slots=8)
    with pytest.raises(ModelTooLarge, match="KV cache for 1000000000 sequences"):  # an exabyte of KV cache
        load_model(ckpt, device="cpu", kv_slots=10**9)


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_estimate_covers_the_placed_weights(ckpt, quantize):
    lm = load_model(ckpt, device="cpu", dtype="float32", quantize=quantize)
    measured, estimated = measured_bytes(lm.model), weight_bytes(lm.config, torch.float32, quantize)
    assert measured <= estimated <= measured * 1.02


def test_untied_head_counts_twice(tmp_path):
    model = tiny_model()
    path = write_nanogpt(tmp_path / "ckpt.pt", model)
    ck = torch.load(path, weights_only=True)
    ck["model"]["lm_head.weight"] = ck["model"]["lm_head.weight"].clone() + 1
    torch.save(ck, path)
    lm = load_model(path, device="cpu")
    assert lm.model.lm_head.weight is not lm.model.transformer.wte.weight
    assert measured_bytes(lm.model) == weight_bytes(read_checkpoint(path).config, torch.float32, tied=False)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_cgroup_limit_is_the_nearest_ancestors_room(tmp_path, monkeypatch, version):
    MiB = 1 << 20
    if version == "v2":
        mount, files = tmp_path / "cgroup", ("memory.max", "memory.current", "inactive_file")
        write(tmp_path / "self", "0::/kubepods/pod1/app\n")
        no_limit = "max\n"
    else:
        mount, files = tmp_path / "cgroup" / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes",
                                                        "total_inactive_file")
        write(tmp_path / "self", "12:pids:/\n4:memory:/kubepods/pod1/app\n0::/\n")
        no_limit = "9223372036854771712\n"
    limit, usage, cache = files
    app, pod = mount / "kubepods" / "pod1" / "app", mount / "kubepods" / "pod1"
    for d, lim, used, inactive in ((app, no_limit, 0, 0), (pod, str(1024 * MiB), 700 * MiB, 100 * MiB),
                                   (mount / "kubepods", str(4096 * MiB), 3000 * MiB, 0)):
        write(d / limit, lim)
        write(d / usage, f"{used}\n")
        write(d / "memory.stat", f"anon {used}\n{cache} {inactive}\n")
    monkeypatch.setattr(loader, "PROC_CGROUP", str(tmp_path / "self"))
    monkeypatch.setattr(loader, "_CGROUPS", ((str(mount), limit, usage, cache),))
    assert loader._cgroup_available() == 424 * MiB  # pod1: 1024 - (700 - 100); kubepods has 1096 left
    monkeypatch.setattr(loader, "_meminfo_available", lambda: 300 * MiB)
    assert loader.available_memory(CPU) == 300 * MiB  # the smaller of the host's and the cgroup's
