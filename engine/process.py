"""A model's engine in a process of its own (ENGINE_PROCESS), so that the decode loop's Python and the server's
never wait for each other's interpreter lock.

In a gunicorn worker the engine thread and the request greenlets share one GIL. At 256 streams on an H200,
py-spy's --gil samples found it with the engine thread half the time (sampling bookkeeping, detokenising, the
~120 torch calls of a prefill, each releasing and retaking the lock) and with the requests the other half (HTTP,
JSON, sockets): the GPU waited on both (PERFORMANCE.md). With ENGINE_PROCESS the worker keeps the HTTP side and
a ProcessEngine, which requests use as they would an Engine; a child (a fresh interpreter that owns the model and
CUDA) runs the Engine, detokenises, and sends every step's outputs in one message.

Over two pipes, pickled by multiprocessing.connection:
  parent -> child  the load's arguments, then ("submit", id, prompts, params), ("cancel", id), ("stop", error)
  child -> parent  ("ready", card) or ("failed", error), once; ("step", [(id, items, done)], running, retired,
                   gpus) after each engine step that changed anything, gpus (devices.gpu_memory()) at most once a
                   second and None otherwise; ("stopped",) last.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path

import torch

from model.gpt import GPT
from model.loader import LoadedModel, load_model
from model.sampling import SamplingParams
from model.settings import ModelSettings
from model.tokenizer import Tokenizer

from .devices import gpu_memory
from .engine import Engine, EngineBase
from .request import Failure, Output, Request, client_not_reading
from .errors import Unavailable
from .host import THREADS, Host
from .mailbox import TIMEOUT

log = logging.getLogger(__name__)
CHILD = "from engine.process import main; main()"
CHILD_FDS = (3, 4)  # where the child finds its ends of the two pipes: from the parent, to the parent
ENGINE_EXITED = Unavailable("The model's engine process exited; try again.", "engine_exited")


@dataclasses.dataclass
class CarriedError:
    """An exception as the pipe carries it: rebuilt without its __init__, whose parameters may not be its args
    (CheckpointError takes a path and a problem)."""

    cls: type
    args: tuple
    attrs: dict

    @classmethod
    def of(cls, error: BaseException) -> "CarriedError":
        carried = cls(type(error), error.args, dict(vars(error)))
        try:
            pickle.dumps(carried)
            carried.rebuild()
        except Exception:  # an attribute or class that does not pickle: its name and message survive
            carried = cls(RuntimeError, (f"{type(error).__name__}: {error}",), {})
        return carried

    def rebuild(self) -> BaseException:
        error = self.cls.__new__(self.cls)
        error.args = self.args
        error.__dict__.update(self.attrs)
        return error


def _grammar_tokenizer(params: SamplingParams, tokenizer: Tokenizer | None) -> SamplingParams:
    # a compiled grammar holds the tokenizer (megabytes pickled): the parent sends it without, the child puts its
    # own back
    if params.grammar is None:
        return params
    return dataclasses.replace(params, grammar=dataclasses.replace(params.grammar, tokenizer=tokenizer))


def _above_child_fds(fd: int) -> int:
    # a pipe end that already sits at one of CHILD_FDS would not lose its close-on-exec flag in a dup2 onto itself
    if fd > max(CHILD_FDS):
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, max(CHILD_FDS) + 1)
    os.close(fd)
    return moved


class ProcessEngine(EngineBase):
    """An Engine's interface (submit, cancel, stop, join, the counts, lm) for an Engine in a child process; stop()
    has the child fail what is in flight, as Engine.stop does, then exit."""

    def __init__(self, path: Path, settings: ModelSettings, host: Host, max_batch: int = 8, max_queue: int = 64,
                 **engine_args):
        self.host = host
        # a fresh interpreter, never a fork of this one (which may hold CUDA or gevent's hub)
        to_child, from_child = os.pipe(), os.pipe()
        ends = [_above_child_fds(to_child[0]), _above_child_fds(from_child[1])]
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # the checkpoint's path in the command line, unused there, says whose engine it is in ps and nvidia-smi
        self.pid = host.spawn([sys.executable, "-c", CHILD, str(path)], env,
                              [(os.POSIX_SPAWN_DUP2, end, fd) for end, fd in zip(ends, CHILD_FDS)])
        for end in ends:
            os.close(end)
        self._out = multiprocessing.connection.Connection(to_child[1], readable=False)
        self._in = multiprocessing.connection.Connection(from_child[0], writable=False)
        self._out.send((path, settings, max_batch, max_queue, engine_args))
        try:
            kind, payload = self._in.recv()
        except EOFError:
            raise RuntimeError(f"the engine process for {path} exited while loading it "
                               f"(status {self._reap()})") from None
        if kind == "failed":
            self._reap()
            raise payload.rebuild()
        tokenizer, checkpoint, device, dtype, kv_dtype, self.max_batch, self.gpus = payload
        with torch.device("meta"):  # the architecture without memory: parameter counts for /v1/models
            model = GPT(checkpoint.config)
        self.lm = LoadedModel(model, tokenizer, checkpoint, device, dtype, kv_dtype)
        self.max_queue = max_queue
        self._requests: dict[int, Request] = {}
        self._ids: dict[Request, int] = {}
        self._next_id = 0
        self._send_lock = host.lock()  # greenlets and threads send; a message must not interleave with another
        self._start(host, self._read)  # the reader releases _alive once the child is gone and reaped

    def submit(self, prompts: list[list[int]], params: list[SamplingParams]) -> Request:
        self.check_admission(len(prompts))
        req = Request(self, prompts, params)
        with self._send_lock:
            rid, self._next_id = self._next_id, self._next_id + 1
            self._requests[rid], self._ids[req] = req, rid
            self.submitted += len(prompts)
            self._send(("submit", rid, prompts, [_grammar_tokenizer(p, None) for p in params]))
        return req

    def cancel(self, req: Request) -> None:
        rid = self._ids.pop(req, None)
        if rid is not None and self._requests.pop(rid, None) is not None:
            with self._send_lock:
                self._send(("cancel", rid))

    def stop(self, error: BaseException | None = None) -> None:
        self.stopped = True
        with self._send_lock:
            self._send(("stop", CarriedError.of(error) if error is not None else None))

    def _reap(self) -> int:
        return self.host.wait_process(self.pid)

    def _send(self, message: tuple) -> None:
        try:
            self._out.send(message)
        except OSError:  # the child is gone: the reader fails what was in flight
            pass

    def _read(self) -> None:
        """The reader thread: each step's outputs into the requests' mailboxes, as the engine thread would."""
        try:
            while True:
                message = self._in.recv()
                if message[0] == "stopped":
                    break
                _, outputs, self.running, self.retired, gpus = message
                if gpus is not None:
                    self.gpus = gpus
                for rid, items, done in outputs:
                    req = self._requests.get(rid)
                    if req is None:  # cancelled here while the child was still decoding it
                        continue
                    keeping_up = [req.put(Failure(i.error.rebuild()) if isinstance(i, Failure) else Output._make(i))
                                  for i in items]
                    if done:
                        self._forget(rid)
                    elif not all(keeping_up):
                        self.cancel(req)
                        req.mailbox.put(client_not_reading())
        except (EOFError, OSError):
            pass
        except Exception:  # a message that cannot be read: what it carried is lost, so end the child and its work
            log.exception("the engine process's message could not be read")
            os.kill(self.pid, signal.SIGKILL)
        finally:  # a child that exited or crashed: nothing more will come for what is in flight
            self.stopped = True
            self._reap()  # the pipe closes as the child exits
            self._alive.release()
            for rid, req in list(self._requests.items()):
                self._forget(rid)
                req.mailbox.put(Failure(ENGINE_EXITED))
            self.running, self.retired = 0, self.submitted

    def _forget(self, rid: int) -> None:
        req = self._requests.pop(rid, None)
        if req is not None:
            self._ids.pop(req, None)


def main() -> None:
    """The child process: load the model, run its Engine, answer the parent until told to stop or it is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this ends (Ctrl+C reaches the group)
    inbox = multiprocessing.connection.Connection(CHILD_FDS[0], writable=False)
    conn = multiprocessing.connection.Connection(CHILD_FDS[1], readable=False)
    path, settings, max_batch, max_queue, engine_args = inbox.recv()
    try:
        lm = load_model(path, settings.device, settings.dtype, settings.gelu, settings.quantize, kv_slots=max_batch,
                        kv_cache_mb=engine_args.get("kv_cache_mb"), kv_dtype=settings.kv_cache_dtype, panels=True)
    except BaseException as e:
        conn.send(("failed", CarriedError.of(e)))
        return
    live: dict[int, Request] = {}
    send_lock = threading.Lock()  # the engine thread sends steps, this thread refusals

    def send(message: tuple) -> None:
        with send_lock, contextlib.suppress(OSError):  # a parent that is gone: this process is stopping anyway
            conn.send(message)
    reported = (0, 0)
    on_gpu = lm.device.type == "cuda"
    memory_sent = time.monotonic()

    def send_step() -> None:  # on the engine thread, after each step
        nonlocal reported, memory_sent
        outputs = []
        for rid, req in list(live.items()):
            items = req.mailbox.get_all(0)
            if items is TIMEOUT:
                continue
            # an Output as a plain tuple: it pickles and unpickles several times faster than the named tuple
            items = [Failure(CarriedError.of(i.error)) if isinstance(i, Failure) else tuple(i)
                     for i in req.account(items)]
            outputs.append((rid, items, not req.unfinished))
            if not req.unfinished:
                live.pop(rid, None)
        counts = (engine.running, engine.retired)
        if outputs or counts != reported:
            gpus = None
            if on_gpu and time.monotonic() - memory_sent > 1:
                gpus, memory_sent = gpu_memory(), time.monotonic()
            send(("step", outputs, *counts, gpus))
            reported = counts

    engine = Engine(lm, max_batch, max_queue, host=THREADS, on_tick=send_step, **engine_args)
    send(("ready", (lm.tokenizer, lm.checkpoint, lm.device, lm.dtype, lm.kv_dtype, engine.max_batch, gpu_memory())))
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):  # the worker is gone
            message = ("stop", None)
        if message[0] == "submit":
            _, rid, prompts, params = message
            params = [_grammar_tokenizer(p, lm.tokenizer) for p in params]
            try:
                live[rid] = engine.submit(prompts, params)
            except Unavailable as e:
                send(("step", [(rid, [Failure(CarriedError.of(e))], True)], *reported, None))
        elif message[0] == "cancel":
            req = live.pop(message[1], None)
            if req is not None:
                req.close()
        else:
            engine.stop(message[1].rebuild() if message[1] is not None else None)
            engine.join(60)
            send(("stopped",))
            return
