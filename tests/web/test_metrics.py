"""web/metrics.py's PendingObservations: counted locally, flushed in one go, exposed exactly as observe() per
sample would be, in this process and in gunicorn's multiprocess mode (a subprocess with PROMETHEUS_MULTIPROC_DIR,
which prometheus_client reads when it is imported)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# samples on both sides of bucket bounds, an exact bound, one past the last finite bound, repeats by count
SAMPLES = [(0.0004, 1), (0.001, 3), (0.0011, 2), (0.04, 1), (0.3, 5), (7.5, 2), (0.001, 1)]

COMPARE = f"""
from web.metrics import ITL, PendingObservations, exposition

def itl_lines(model):
    return sorted(l for l in exposition().decode().splitlines()
                  if "inter_token" in l and model in l and "_created" not in l)

one_by_one, pending = ITL.labels("one-by-one"), PendingObservations(ITL.labels("pending"))
for amount, count in {SAMPLES!r}:
    for _ in range(count):
        one_by_one.observe(amount)
    pending.observe(amount, count)
before_flush = itl_lines("pending")
pending.flush()
pending.flush()  # nothing new: adds nothing
expected = [l.replace("one-by-one", "pending") for l in itl_lines("one-by-one")]
assert expected and itl_lines("pending") == expected, (itl_lines("pending"), expected)
assert all(l.endswith(" 0.0") for l in before_flush), before_flush
print("same")
"""


def _compare(multiproc_dir: Path | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiproc_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    out = subprocess.run([sys.executable, "-c", COMPARE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "same", out.stderr


def test_flushed_observations_expose_as_one_observe_per_sample():
    _compare(None)


def test_flushed_observations_expose_the_same_across_gunicorn_workers(tmp_path):
    _compare(tmp_path)
