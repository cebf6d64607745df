"""llama.cpp as a benchmark peer on CPU: build it, convert our weights to GGUF, time llama-bench, run llama-server.

    python -m bench.llama_cpp build                       # prints the paths of llama-bench and llama-server
    python -m bench.llama_cpp gguf HF_DIR [--outtype f32|f16|q8_0]
    python -m bench.llama_cpp bench HF_DIR_OR_GGUF [--outtype q8_0] [--threads 2] [--n-gen 64] [--n-prompt 32]
    python -m bench.llama_cpp serve HF_DIR_OR_GGUF [--outtype f32] [--parallel 4] [--port 8081]

CPU users who don't run this project run llama.cpp (directly, or under Ollama / LM Studio), so our CPU figures
are measured against it. The only source reachable here is the PyPI sdist of llama-cpp-python, which vendors
llama.cpp under vendor/llama.cpp: `build()` downloads it with pip, builds llama-bench and llama-server with
-DGGML_NATIVE=ON under `nice -n 19`, and keeps everything in a cache outside the repository
($NANOGPT_LLAMA_CPP_CACHE, default ~/.cache/nanogpt-serve/llama.cpp/); a finished build is reused. HF_DIR is what
`python -m model.export_hf CKPT OUT_DIR` writes; `to_gguf()` converts it with llama.cpp's own convert_hf_to_gguf.py.

What is measured: `bench_decode()` is llama-bench's prompt processing (pp, n_prompt tokens in one batch) and
generation (tg, n_gen tokens one at a time, after n_prompt tokens of context) in tokens/s, median of its
repetitions; `serve()` starts llama-server for bench/serve.py to drive with the same client and prompts as ours.
Nothing here is part of the test suite or CI.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PACKAGE, VERSION = "llama-cpp-python", "0.3.36"
OUTTYPES = ("f32", "f16", "q8_0")
TARGETS = ("llama-bench", "llama-server")
# what convert_hf_to_gguf.py and the vendored gguf-py import for a GPT-2 (module: PyPI name); sentencepiece and
# protobuf are only for SentencePiece vocabularies, so they are not asked for
CONVERTER_PACKAGES = {"numpy": "numpy", "yaml": "pyyaml", "tqdm": "tqdm", "requests": "requests",
                      "torch": "torch", "transformers": "transformers", "safetensors": "safetensors"}


@dataclass(frozen=True)
class Binaries:
    bench: Path
    server: Path


def cache_dir() -> Path:
    return Path(os.environ.get("NANOGPT_LLAMA_CPP_CACHE", "~/.cache/nanogpt-serve/llama.cpp")).expanduser()


def log(msg: str) -> None:
    print(f"[llama.cpp] {msg}", file=sys.stderr, flush=True)


def sdist_version(tarball: Path) -> tuple[int, ...]:
    """(0, 3, 36) from llama_cpp_python-0.3.36.tar.gz: versions compare as numbers, not as text."""
    return tuple(int(x) for x in tarball.name.removesuffix(".tar.gz").rsplit("-", 1)[1].split(".") if x.isdigit())


def download_sdist(cache: Path, version: str = VERSION) -> Path:
    """The sdist tarball in `cache`, fetched with pip unless one is there; the newest 0.3.x if `version` is gone."""
    pinned = cache / f"llama_cpp_python-{version}.tar.gz"
    found = sorted(cache.glob("llama_cpp_python-*.tar.gz"), key=sdist_version)
    if pinned.exists() or found:
        return pinned if pinned.exists() else found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache)]
    for spec in (f"{PACKAGE}=={version}", f"{PACKAGE}>=0.3,<0.4"):
        log(f"pip download {spec}")
        if subprocess.run(pip + [spec]).returncode == 0:
            return max(cache.glob("llama_cpp_python-*.tar.gz"), key=sdist_version)
    raise RuntimeError(f"could not download the {PACKAGE} sdist from PyPI")


def source_dir(cache: Path | None = None) -> Path:
    """vendor/llama.cpp of the unpacked sdist (unpacked once; the .unpacked stamp says it finished)."""
    cache = cache or cache_dir()
    tarball = download_sdist(cache)
    root = cache / tarball.name.removesuffix(".tar.gz")
    src = root / "vendor" / "llama.cpp"
    if not (root / ".unpacked").exists():
        shutil.rmtree(root, ignore_errors=True)
        log(f"unpacking {tarball.name}")
        with tarfile.open(tarball) as tar:
            tar.extractall(cache, filter="data")
        (root / ".unpacked").touch()
    return src


def build(cache: Path | None = None, jobs: int = 2) -> Binaries:
    """Build llama-bench and llama-server (only those targets) at their lowest priority; reuse a finished build."""
    src = source_dir(cache)
    out = src / "build" / "bin"
    bins = Binaries(out / "llama-bench", out / "llama-server")
    if bins.bench.exists() and bins.server.exists():
        return bins
    nice = ["nice", "-n", "19"]  # the machine's 2 cores are shared: a build must not slow anyone's timing much
    log(f"configuring {src}")
    subprocess.run(nice + ["cmake", "-B", "build", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
                           "-DCMAKE_BUILD_TYPE=Release"], cwd=src, check=True)
    log(f"building {', '.join(TARGETS)} with -j{jobs} (several minutes)")
    subprocess.run(nice + ["cmake", "--build", "build", "--target", *TARGETS, f"-j{jobs}"], cwd=src, check=True)
    assert bins.bench.exists() and bins.server.exists(), f"build finished without the binaries in {out}"
    return bins


def missing_converter_packages() -> list[str]:
    import importlib.util
    return [pkg for mod, pkg in CONVERTER_PACKAGES.items() if importlib.util.find_spec(mod) is None]


def ensure_converter_packages() -> list[str]:
    """Install into this interpreter's environment whatever the converter imports and is missing; returns them."""
    missing = missing_converter_packages()
    if missing:
        log(f"installing the converter's missing packages: {' '.join(missing)}")
        subprocess.run([sys.executable, "-m", "pip", "install", *missing], check=True)
    return missing


def weights_digest(hf_dir: Path) -> str:
    """Content hash of the model, so the same weights exported to another temp dir hit the same cached GGUF."""
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        with open(hf_dir / name, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()[:16]


def to_gguf(hf_dir: str | Path, outtype: str = "f32", cache: Path | None = None) -> Path:
    """A GGUF of a Hugging Face GPT-2 directory made by llama.cpp's convert_hf_to_gguf.py (cached by content)."""
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype {outtype!r}: one of {OUTTYPES}")
    hf_dir = Path(hf_dir)
    cache = cache or cache_dir()
    out = cache / "gguf" / f"{weights_digest(hf_dir)}-{outtype}.gguf"
    if out.exists():
        return out
    src = source_dir(cache)
    ensure_converter_packages()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    # the vendored gguf-py matches this converter; a PyPI gguf may be older or newer
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src / "gguf-py"),
                                                                     os.environ.get("PYTHONPATH")]))}
    log(f"converting {hf_dir} to {outtype}")
    log_path = out.with_suffix(".log")
    with open(log_path, "wb") as log_file:  # it logs every tensor: kept beside the GGUF, shown only on failure
        run = subprocess.run([sys.executable, str(src / "convert_hf_to_gguf.py"), str(hf_dir), "--outtype", outtype,
                              "--outfile", str(partial)], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    if run.returncode != 0:
        raise RuntimeError(f"convert_hf_to_gguf.py failed ({run.returncode}):\n{log_path.read_text()[-3000:]}")
    partial.rename(out)
    return out


def bench_decode(gguf: str | Path, threads: int = 2, n_gen: int = 64, n_prompt: int = 32,
                 repetitions: int = 3) -> dict:
    """llama-bench's tokens/s: pp (n_prompt tokens in one batch) and tg (n_gen tokens at depth n_prompt).

    tg runs with -d n_prompt, so each generated token attends to a prompt's worth of context, as our decode
    benchmark's steps do after their prompt. Tokens/s are medians over the repetitions, as ours are medians.
    """
    bins = build()
    common = [str(bins.bench), "-m", str(gguf), "-t", str(threads), "-r", str(repetitions), "-o", "json"]
    # two runs: llama-bench crosses every -p, -n and -d value given, and appends repeated flags
    try:
        pp = _llama_bench(common + ["-p", str(n_prompt), "-n", "0"])["tok_s"]
    except RuntimeError as e:  # q8_0 batches through AMX died with SIGILL on one VM: report the rest
        log(f"prefill of {gguf} failed: {str(e).splitlines()[0]}")
        pp = float("nan")
    tg = _llama_bench(common + ["-p", "0", "-n", str(n_gen), "-d", str(n_prompt)])
    return {"pp_tok_s": pp, "tg_tok_s": tg["tok_s"], "n_prompt": n_prompt, "n_gen": n_gen,
            "threads": threads, "build": tg.get("build_commit"), "type": tg.get("model_type")}


def _llama_bench(cmd: list[str]) -> dict:
    """The one test that `cmd` runs, with its median tokens/s."""
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({run.returncode}):\n{run.stderr[-2000:]}")
    (test,) = json.loads(run.stdout)
    samples = test.get("samples_ts") or [test["avg_ts"]]
    return {**test, "tok_s": statistics.median(samples)}


def context_tokens(parallel: int, prompt_len: int, output_len: int) -> int:
    """llama-server splits -c evenly among its slots: each needs room for one whole request (plus slack)."""
    return parallel * (prompt_len + output_len + 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(gguf: str | Path, threads: int = 2, parallel: int = 1, port: int | None = None, ctx: int = 4096,
          api_key: str | None = None, log_path: Path | None = None, cache_prompt: bool = False,
          timeout: float = 120, cache_type: str = "f16") -> tuple[subprocess.Popen, str]:
    """Start llama-server (continuous batching, `parallel` slots, `ctx` tokens in all, its KV cache in cache_type:
    f16 is its default) and wait for /health.

    Its prompt cache is off unless asked for: our server has no prefix cache, and the benchmark sends one prompt
    over and over, so with it llama-server would skip nearly every prefill.
    """
    bins = build()
    port = port or free_port()
    cmd = [str(bins.server), "-m", str(gguf), "-t", str(threads), "--parallel", str(parallel), "--cont-batching",
           "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx), "-ctk", cache_type, "-ctv", cache_type]
    if api_key:
        cmd += ["--api-key", api_key]
    if not cache_prompt:
        cmd += ["--no-cache-prompt", "--cache-ram", "0"]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text()[-3000:] if log_path else ""
            raise RuntimeError(f"llama-server exited ({proc.returncode}):\n{tail}")
        try:  # 503 while the model loads, 200 once it serves
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"llama-server did not answer /health within {timeout:.0f} s")


def check_output_length(url: str, prompt: list[int], max_tokens: int, api_key: str | None = None) -> int:
    """Assert that llama-server's /v1/completions returns exactly max_tokens tokens under ignore_eos.

    Counted twice: its usage figure, and the per-token entries of `n_probs` (llama-server's own field), which
    hold one entry per token generated; greedy, with the same body fields our benchmark client sends.
    """
    body = {"prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0, "n_probs": 1}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    r = httpx.post(url + "/v1/completions", json=body, headers=headers, timeout=300)
    r.raise_for_status()
    out = r.json()
    per_token = (out["choices"][0].get("logprobs") or {}).get("content") or []
    counts = {"usage": out["usage"]["completion_tokens"], "per-token entries": len(per_token)}
    assert set(counts.values()) == {max_tokens} and out["choices"][0]["finish_reason"] == "length", \
        f"llama-server did not honour max_tokens={max_tokens} with ignore_eos: {counts}"
    return max_tokens


def greedy_tokens(gguf: str | Path, prompt: list[int], n: int, threads: int = 2) -> list[int]:
    """The n token ids llama.cpp decodes greedily after `prompt` (a short-lived llama-server): a check that the
    GGUF holds the weights it was converted from, when set beside our own greedy tokens."""
    proc, url = serve(gguf, threads=threads, parallel=1, ctx=len(prompt) + n + 16)
    try:
        body = {"prompt": prompt, "n_predict": n, "ignore_eos": True, "temperature": 0, "return_tokens": True}
        r = httpx.post(url + "/completion", json=body, timeout=300)  # the native endpoint returns the ids
        r.raise_for_status()
        return r.json()["tokens"]
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def gguf_of(path: str, outtype: str) -> Path:
    """A .gguf path as it is, or a Hugging Face directory converted to `outtype`."""
    p = Path(path)
    return p if p.suffix == ".gguf" else to_gguf(p, outtype)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.llama_cpp", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="download, unpack and build llama-bench and llama-server (once)")
    for name in ("gguf", "bench", "serve"):
        p = sub.add_parser(name)
        p.add_argument("model", help="a Hugging Face GPT-2 directory (model.export_hf) or a .gguf file")
        p.add_argument("--outtype", default="f32", choices=OUTTYPES)
        p.add_argument("--threads", type=int, default=2)
    sub.choices["bench"].add_argument("--n-gen", type=int, default=64)
    sub.choices["bench"].add_argument("--n-prompt", type=int, default=32)
    sub.choices["bench"].add_argument("--repetitions", type=int, default=3)
    sub.choices["serve"].add_argument("--parallel", type=int, default=1)
    sub.choices["serve"].add_argument("--port", type=int, default=8081)
    sub.choices["serve"].add_argument("--ctx", type=int, default=4096)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        bins = build()
        print(bins.bench, bins.server, sep="\n")
    elif args.cmd == "gguf":
        print(gguf_of(args.model, args.outtype))
    elif args.cmd == "bench":
        print(json.dumps(bench_decode(gguf_of(args.model, args.outtype), args.threads, args.n_gen, args.n_prompt,
                                      args.repetitions)))
    else:
        proc, url = serve(gguf_of(args.model, args.outtype), args.threads, args.parallel, args.port, args.ctx)
        print(f"llama-server at {url} (pid {proc.pid}); Ctrl-C stops it", flush=True)
        try:
            proc.wait()
        except KeyboardInterrupt:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
