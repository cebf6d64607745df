import os, subprocess, sys, tempfile
sys.path.insert(0, "tests"); sys.path.insert(0, "tests/model")
from pathlib import Path
from checkpoints import tiny_model, write_nanogpt
from test_quantize import RSS_PROBE
d = Path(tempfile.mkdtemp())
path = write_nanogpt(d / "wide.pt", tiny_model(n_layer=4, n_head=8, n_embd=512, block_size=128))
for mm in ("auto", "auto", "auto"):
    r = {}
    for q in ("none", "int8"):
        out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(path), q], capture_output=True, text=True,
                             env={"PYTHONPATH": os.environ.get("PYTHONPATH", "."), "PATH": "/usr/bin:/bin", "CPU_MATMUL": mm})
        r[q] = int(out.stdout.split()[-1]) // 1024
    print(mm, r, r["none"] - r["int8"], flush=True)
