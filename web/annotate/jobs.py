"""Training jobs: `python -m model.finetune` as a subprocess in its own process group, one at a time.

State lives on disk in DATA_DIR/train/, so every gunicorn worker answers status, logs and stop alike:
- state.json: the current (or last) job, rewritten atomically; `running` jobs carry the child's pid, which is
  also its process group id (start_new_session), so stop signals the whole group.
- <job>.log.jsonl: one {"time", "message"} per line of the child's output, appended by the worker that started
  it (the child writes to a pipe: if the server dies, the child's next print fails and it exits instead of
  holding the GPU as an orphan).
- lock: flock'ed while a job is checked and started, so two workers cannot start two jobs.
Stop sends SIGTERM: model.finetune finishes its step, saves OUT/ckpt.pt and exits 0; SIGKILL follows after
STOP_GRACE_S. The result is MODEL_DIR/<job id>/ckpt.pt (+ the base's chat.json), a new id in /v1/models.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

from model.finetune import STOP_SIGNALS

REPO = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 60.0  # a step of a big model on a busy GPU plus a checkpoint write
# a job's folder name in MODEL_DIR (and its files in DATA_DIR/train/ add ".data.jsonl"): below NAME_MAX (255 bytes)
MAX_FOLDER_BYTES = 240
PROGRESS = re.compile(r"^step (\d+)/(\d+) \| loss ([-\d.naif]+)(?: \| margin ([-+\d.naif]+))?")


class JobConflict(Exception):
    """A job runs already (or another worker is starting one)."""


def folder_name(name: str) -> str:
    """A model name as a folder name: letters and digits of any script, '.', '_' and '-' are kept (NFC, so an 'é'
    typed on macOS is one letter); every other run of characters becomes '-'. Empty when nothing is left."""
    return re.sub(r"[^\w.-]+", "-", unicodedata.normalize("NFC", name)).strip("-.")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # never waitpid here: reaping our own child would steal its exit status from Popen.wait (and gevent's watcher)
    return True


class Trainer:
    def __init__(self, data_dir: str | Path, model_dir: str | Path):
        self.dir = Path(data_dir) / "train"
        self.model_dir = Path(model_dir)
        self._procs: dict[str, subprocess.Popen] = {}  # jobs this worker started, by id

    # --- state on disk ------------------------------------------------------------------------------------

    def state(self) -> dict:
        try:
            st = json.loads((self.dir / "state.json").read_text())
        except (OSError, ValueError):
            return {"status": "idle"}
        if st.get("status") == "running" and st.get("id") not in self._procs and not _alive(st.get("pid", -1)):
            # its worker died with it (kill -9, restart): nobody is left to record the end
            st.update(status="failed", error="the server process that ran the job exited", ended=st.get("ended"))
        return st

    def _write_state(self, st: dict) -> None:
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(st, ensure_ascii=False, indent=1))
        os.replace(tmp, self.dir / "state.json")

    def _update(self, job_id: str, **changes) -> None:
        st = self.state()
        if st.get("id") == job_id:
            st.update(changes)
            self._write_state(st)

    def logs(self, job_id: str | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """Log entries of a job (the current one by default) from byte `offset`; and the offset after them."""
        job_id = job_id or self.state().get("id")
        if not job_id:
            return [], 0
        try:
            with open(self.dir / f"{job_id}.log.jsonl", "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n") + 1  # a line being written is read next time, whole
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()], offset + end

    def status(self, recent: int = 20) -> dict:
        st = self.state()
        entries, _ = self.logs(st.get("id"))
        progress = {}
        for e in reversed(entries):
            m = PROGRESS.match(e["message"])
            if m:
                progress = {"step": int(m[1]), "total_steps": int(m[2]), "loss": float(m[3]),
                            "margin": float(m[4]) if m[4] else None}
                break
        return {"running": st.get("status") == "running", "status": st.get("status", "idle"),
                "log_count": len(entries), "recent_logs": entries[-recent:],
                "step": progress.get("step", 0), "total_steps": progress.get("total_steps", st.get("steps")),
                "loss": progress.get("loss"), "margin": progress.get("margin"),
                **{k: st.get(k) for k in ("id", "method", "base_model", "model", "device", "started", "ended",
                                          "returncode", "error")}}

    # --- start and stop -----------------------------------------------------------------------------------

    def start(self, *, method: str, base_model: str, base_path: Path, chat_sidecar: Path | None, data: str,
              n_records: int, steps: int, lr: float | None, beta: float, batch_size: int, device: str,
              name: str | None = None) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as lock:
            try:  # non-blocking: a blocked flock would stall the gevent hub
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JobConflict("another training job is being started") from None
            st = self.state()
            if st.get("status") == "running":
                raise JobConflict(f"training job {st['id']} is running; stop it first (POST /api/train/stop)")
            job_id = self._new_id(name or f"{Path(base_model).stem}-{method}", name is not None)
            out = self.model_dir / job_id
            out.mkdir(parents=True)
            if chat_sidecar is not None and chat_sidecar.is_file():  # the new model speaks its base's format
                shutil.copyfile(chat_sidecar, out / "chat.json")
            data_file = self.dir / f"{job_id}.data.jsonl"
            data_file.write_text(data, encoding="utf-8")
            cmd = [sys.executable, "-m", "model.finetune", "--method", method, "--data", str(data_file),
                   "--init-from", str(base_path), "--out", str(out), "--steps", str(steps), "--beta", str(beta),
                   "--batch-size", str(batch_size), "--device", device,
                   "--log-every", str(min(max(1, steps // 200), 10))]  # live enough for the chart, bounded logs
            if lr is not None:
                cmd += ["--lr", str(lr)]
            env = {**os.environ, "PYTHONUNBUFFERED": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
            # the child inherits a blocked SIGTERM: a stop sent before model.finetune installs its handler stays
            # pending until it does (then the job saves and exits), instead of killing it with nothing saved
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            self._procs[job_id] = proc
            self._write_state({"id": job_id, "status": "running", "pid": proc.pid, "method": method,
                               "base_model": base_model, "model": job_id, "out": str(out), "device": device,
                               "steps": steps, "records": n_records, "started": _now(), "ended": None,
                               "returncode": None, "error": None, "stop_requested": False})
        # threading.Thread is a greenlet under gunicorn's gevent worker (pipe reads then yield to the hub)
        threading.Thread(target=self._follow, args=(job_id, proc, out), daemon=True).start()
        return self.status()

    def _new_id(self, stem: str, exact: bool) -> str:
        # an exact name (the user's) was checked by the request's schema, schemas.TrainStartBody
        stem = folder_name(stem)
        if not exact:  # the base model's name: cut to leave room for the time and a counter
            stem = folder_name(stem.encode()[:MAX_FOLDER_BYTES - 30].decode(errors="ignore")) or "model"
        job_id = stem if exact else f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        if exact and ((self.model_dir / job_id).exists() or (self.model_dir / f"{job_id}.pt").exists()):
            raise FileExistsError(job_id)  # a name the user chose is theirs: never renamed behind their back
        base, n = job_id, 1
        while (self.model_dir / job_id).exists() or (self.dir / f"{job_id}.log.jsonl").exists():
            n += 1
            job_id = f"{base}-{n}"
        return job_id

    def _follow(self, job_id: str, proc: subprocess.Popen, out: Path) -> None:
        """Timestamp the child's lines into its log; record how it ended."""
        stopped = False
        with proc.stdout, open(self.dir / f"{job_id}.log.jsonl", "a", encoding="utf-8") as log:  # pipe closed too
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip()
                stopped |= line.startswith("# stopped")
                log.write(json.dumps({"time": _now(), "message": line}, ensure_ascii=False) + "\n")
                log.flush()
        code = proc.wait()
        self._procs.pop(job_id, None)
        requested = self.state().get("stop_requested")
        ok = (out / "ckpt.pt").is_file()
        status = "stopped" if (stopped or requested) and ok else "done" if code == 0 and ok else "failed"
        if not ok:  # nothing to serve: do not leave an empty folder in MODEL_DIR
            shutil.rmtree(out, ignore_errors=True)
        self._update(job_id, status=status, ended=_now(), returncode=code,
                     error=None if status != "failed" else f"model.finetune exited with {code}; see the log")

    def stop(self) -> dict:
        """Ask the running job to save and exit; returns its status (unchanged when none runs)."""
        st = self.state()
        if st.get("status") != "running":
            return self.status()
        self._update(st["id"], stop_requested=True)
        pid = st["pid"]
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return self.status()
        threading.Thread(target=self._kill_later, args=(st["id"], pid), daemon=True).start()
        return self.status()

    def _kill_later(self, job_id: str, pid: int) -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            if self.state().get("status") != "running" or not _alive(pid):
                return
            time.sleep(0.5)
        if self.state().get("id") == job_id:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
