"""Where a C decode step's time goes, by phase: python step_phases.py [float32|bfloat16] ROWS [PROMPT].

Builds a copy of model/cpu_step.c with a clock read by the master thread after each phase (each phase ends at
its `omp for` barrier), loads it in place of the cached kernel, and decodes 127 steps of ROWS sequences after a
PROMPT-token prefill (the context grows from PROMPT to PROMPT + 127, as in bench.serve's waves)."""
import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from model import cpu_kernel

PHASES = ["norms", "qkv", "attention", "attn_proj", "fc", "mlp_proj", "head"]
MARKS = {"layer_norm(x, bw->ln_1_w": 0, "matmul(m, h, bw->c_attn_w": 1, "attention(m, l,": 2,
         "matmul(m, h, bw->attn_proj_w": 3, "layer_norm(x, bw->ln_2_w": 0, "matmul(m, h, bw->c_fc_w": 4,
         "matmul(m, wide, bw->mlp_proj_w": 5, "layer_norm(x, m->ln_f_w": 0, "matmul(m, h, m->lm_head": 6}


def instrumented() -> ctypes.CDLL:
    src = Path(cpu_kernel.__file__).parent
    step = (src / "cpu_step.c").read_text()
    step = step.replace('#include "cpu_kernel.h"', '#include "cpu_kernel.h"\ndouble phase_times[8];\n#define MARK(k) '
                        '{ _Pragma("omp master") { double now = omp_get_wtime(); phase_times[k] += now - last; '
                        'last = now; } }', 1)
    step = step.replace("    #pragma omp parallel num_threads(threads)\n    {",
                        "    double last = omp_get_wtime();\n    #pragma omp parallel num_threads(threads)\n    {", 1)
    lines = []
    for line in step.splitlines():
        mark = next((k for text, k in MARKS.items() if line.strip().startswith(text)), None)
        lines.append(line if mark is None else f"{line} MARK({mark})")
    tmp = Path(tempfile.mkdtemp())
    (tmp / "cpu_step.c").write_text("\n".join(lines))
    out = tmp / "phases.so"
    subprocess.run(["cc", *cpu_kernel.FLAGS, "-I", str(src), str(src / "cpu_kernel.c"), str(tmp / "cpu_step.c"),
                    "-lm", "-o", str(out)], check=True)
    return cpu_kernel.load(out)


def main():
    lib = instrumented()
    cpu_kernel.library = lambda: lib  # the Decoder's FusedDecode.build asks for it
    from bench.decode import build_models
    from model.generate import Decoder
    from model.sampling import SamplingParams

    torch.set_num_threads(2)
    dtype = getattr(torch, sys.argv[1])
    rows, prompt = int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 128
    lm, _ = build_models("124M", torch.device("cpu"), dtype)
    prompts = torch.randint(0, 50256, (rows, prompt), generator=torch.Generator().manual_seed(0)).tolist()
    params = SamplingParams(max_tokens=128, temperature=0.0, ignore_eos=True)
    times = (ctypes.c_double * 8).in_dll(lib, "phase_times")
    decoder = Decoder(lm, max_batch=rows, max_len=1024, seed=0)
    assert decoder.fused is not None and decoder.fused.fits(rows), "the C step does not run this row count"
    decoder.add_many([(p, params) for p in prompts])
    for i in range(8):
        times[i] = 0.0
    start = time.perf_counter()
    for _ in range(127):
        decoder.step()
    total = (time.perf_counter() - start) / 127
    parts = ", ".join(f"{name} {1e3 * times[i] / 127:.2f}" for i, name in enumerate(PHASES))
    print(f"{sys.argv[1]} rows {rows} prompt {prompt}: step {1e3 * total:.2f} ms: {parts}, "
          f"outside the C step {1e3 * total - 1e3 * sum(times[:7]) / 127:.2f}")


if __name__ == "__main__":
    main()
