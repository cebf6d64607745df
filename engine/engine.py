"""One model's inference engine: a real OS thread runs model.generate.Decoder, fed by a queue.

Every request of the model shares the decoder's batch (continuous batching: sequences join and leave between
steps). The forward pass therefore never runs in a request's thread or on a server's event loop; requests
submit work, then wait on their Request's mailbox (request.py) while the server keeps serving other requests.
How the engine thread meets the server's concurrency (threads, or gevent's hub) is the Host it is given (host.py).

Threading rule: decoder state is touched only by the engine thread. Requests talk to it through the inbox
(submit, cancel) and it answers through each request's mailbox. Counters that /health and admission read are
written by one side only, so no lock is needed.
"""
from __future__ import annotations

import collections
from collections.abc import Callable

from model.generate import Decoder
from model.kv_cache import KVCache
from model.loader import LoadedModel
from model.sampling import SamplingParams

from .errors import Unavailable
from .host import THREADS, Host
from .request import Failure, Output, Request, client_not_reading

class EngineBase:
    """What Engine and ProcessEngine (engine/process.py) share: admission, the counts /health shows, join().

    Each count is written by one side only, so no lock: `submitted` (sequences) by submit(); `retired` (finished,
    cancelled or failed) and `running` (in the decoder) by the engine thread, or by the thread that reads the
    engine process's reports. `draining`: the server is shutting down, running sequences finish, none join."""

    max_batch: int
    max_queue: int

    def _start(self, host: Host, run: Callable[[], None]) -> None:
        """Zero the counts and start `run` on a real thread; it releases `_alive` as it ends (join waits on it)."""
        self.submitted = self.retired = self.running = 0
        self.stopped = self.draining = False
        self._alive = host.lock()
        self._alive.acquire()
        host.start_thread(run)

    @property
    def in_flight(self) -> int:
        return self.submitted - self.retired

    @property
    def waiting(self) -> int:
        return max(self.in_flight - self.running, 0)

    @property
    def idle(self) -> bool:
        return self.in_flight == 0

    def check_admission(self, n: int) -> None:
        """Unavailable when n more sequences cannot be queued now (a lone request always fits), the model is being
        unloaded or the server is shutting down."""
        if self.stopped:
            raise Unavailable("The model is being unloaded; try again.", "model_unloading")
        if self.draining:
            raise Unavailable("The server is shutting down; try again.", "shutting_down")
        if self.in_flight and self.in_flight + n > self.max_batch + self.max_queue:
            raise Unavailable(f"The server is busy ({self.in_flight} sequences running or queued); try again "
                              f"shortly.")

    def join(self, timeout: float) -> bool:
        """Wait for the engine's thread (or process) to exit; at shutdown, a thread killed inside torch would abort
        the process."""
        if self._alive.acquire(timeout=timeout):
            self._alive.release()
            return True
        return False


def slots_for(lm: LoadedModel, max_batch: int, kv_cache_mb: int | None) -> int:
    """How many sequences the KV cache holds: MAX_BATCH, lowered to what KV_CACHE_MB pays for (at least 1)."""
    return KVCache.slots_within(lm.config, lm.kv_dtype, max_batch, kv_cache_mb)


class Engine(EngineBase):
    def __init__(self, lm: LoadedModel, max_batch: int = 8, max_queue: int = 64, kv_cache_mb: int | None = None,
                 prefill_tokens: int = 0, host: Host = THREADS, prefix_cache_mb: float = 0,
                 on_tick: Callable[[], None] | None = None, overlap: bool | None = None):
        self.lm = lm
        self.host = host
        self.max_batch = slots_for(lm, max_batch, kv_cache_mb)
        self.max_queue = max_queue
        # prompt tokens prefilled per step beyond the first prompt: running streams wait for at most this much
        # prefill between two tokens, while a burst of new requests still joins a few at a time
        self.prefill_tokens = prefill_tokens or (2048 if lm.device.type == "cuda" else 256)
        self.prefix_cache_mb = prefix_cache_mb
        self.on_tick = on_tick  # called by the engine thread after each step (engine/process.py sends its outputs)
        # the GPU decodes a step while this thread delivers the one before (Decoder.step); on the CPU there is
        # nothing to overlap: a launch runs to completion
        self.overlap = lm.device.type == "cuda" if overlap is None else overlap
        self.decoder = self._new_decoder()
        self._inbox = host.queue()
        self._waiting: collections.deque = collections.deque()  # (request, choice) not yet in the decoder
        self._live: dict[int, tuple[Request, int]] = {}  # Sequence.id -> (request, choice)
        self._seqs: dict[Request, list] = {}  # request -> its sequences in the decoder
        self._submit_lock = host.lock()  # the dev server submits from several threads
        self._start(host, self._loop)

    # --- request side -------------------------------------------------------------------------------------

    def submit(self, prompts: list[list[int]], params: list[SamplingParams]) -> Request:
        """Queue one sequence per (prompt, params); Unavailable as check_admission says."""
        self.check_admission(len(prompts))
        req = Request(self, prompts, params)
        with self._submit_lock:  # the dev server submits from several threads
            self.submitted += len(prompts)
        self._inbox.put(("submit", req))
        return req

    def cancel(self, req: Request) -> None:
        """Drop a request's sequences, running or queued, before the next step (any thread)."""
        self._inbox.put(("cancel", req))

    def stop(self, error: BaseException | None = None) -> None:
        """Let the thread finish: it fails whatever is in flight with `error` (default: Unavailable, the model
        is being unloaded) and exits."""
        self.stopped = True
        self._inbox.put(("stop", error or Unavailable("The model was unloaded while this request ran; try again.",
                                                      "model_unloading")))

    # --- engine thread ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                try:
                    alive = self._tick()
                except Exception as e:  # a bug or an out-of-memory: fail what is in flight, keep serving
                    self._fail_all(e)
                    self.decoder = self._new_decoder()
                    alive = True
                if self.on_tick is not None:
                    self.on_tick()
                if not alive:
                    return
        finally:
            self._alive.release()

    def _new_decoder(self) -> Decoder:
        return Decoder(self.lm, max_batch=self.max_batch, prefix_cache_mb=self.prefix_cache_mb, overlap=self.overlap)

    def _tick(self) -> bool:
        """Take new messages, fill free slots, decode one token for the batch; False when told to stop."""
        # block only when there is nothing to decode; otherwise just take what arrived since the last step
        busy = bool(self.decoder.running or self._waiting)
        messages = [] if busy else [self._inbox.get()]
        while not self._inbox.empty():
            messages.append(self._inbox.get())
        for kind, req in messages:
            if kind == "submit":
                self._waiting.extend((req, i) for i in range(len(req.prompts)))
            elif kind == "cancel":
                self._cancel(req)
            else:  # stop: `req` is the error to fail what is in flight with
                self._fail_all(req)
                return False
        self._admit()
        if self.decoder.running:
            for out in self.decoder.step():
                self._deliver(out)
        return True

    def _admit(self) -> None:
        # interleaving: one prompt always joins, more only within the prefill budget, so a burst of arrivals
        # does not stall the streams already running (vLLM's max_num_batched_tokens, roughly); consecutive
        # prompts of one length are prefilled together in one forward
        budget, first = self.prefill_tokens, True
        while self._waiting and self.decoder.free_slots:
            group, length = [], None
            while self._waiting and len(group) < self.decoder.free_slots:
                req, choice = self._waiting[0]
                if req.closed:
                    self._waiting.popleft()
                    self.retired += 1
                    continue
                n = self.decoder.prompt_length(req.prompts[choice])
                if (length is not None and n != length) or (not first and n > budget):
                    break
                self._waiting.popleft()
                group.append((req, choice))
                budget, first, length = budget - n, False, n
            if not group:
                return
            try:
                outs = self.decoder.add_many([(req.prompts[c], req.params[c]) for req, c in group])
            except Exception as e:
                # add_many() may have taken slots before failing: give back any sequence we do not know
                for seq in list(self.decoder.running):
                    if seq.id not in self._live:
                        self.decoder.cancel(seq)
                self.retired += len(group)
                for req in dict.fromkeys(req for req, _ in group):
                    self._cancel(req)
                    req.mailbox.put(Failure(e))
                continue
            for (req, choice), out in zip(group, outs):
                self._live[out.seq.id] = (req, choice)
                self._seqs.setdefault(req, []).append(out.seq)
            for out in outs:
                self._deliver(out)

    def _deliver(self, out) -> None:
        entry = self._live.get(out.seq.id)
        if entry is None:  # its request was cancelled earlier in this step
            return
        req, choice = entry
        if not req.put(Output(choice, out.token, out.text, out.logprob, out.finish_reason, len(out.seq.tokens),
                              out.seq.cached)):
            self._cancel(req)
            req.mailbox.put(client_not_reading())
            return
        if out.finish_reason is not None:
            del self._live[out.seq.id]
            self.retired += 1
            seqs = self._seqs[req]
            seqs.remove(out.seq)
            if not seqs:
                del self._seqs[req]
        self.running = len(self.decoder.running)

    def _cancel(self, req: Request) -> None:
        for seq in self._seqs.pop(req, []):
            self.decoder.cancel(seq)
            self._live.pop(seq.id, None)
            self.retired += 1
        before = len(self._waiting)
        self._waiting = collections.deque(w for w in self._waiting if w[0] is not req)
        self.retired += before - len(self._waiting)
        self.running = len(self.decoder.running)

    def _fail_all(self, error: BaseException) -> None:
        # the decoder may be broken: drop the bookkeeping without asking it to cancel anything
        reqs = {r for r, _ in self._live.values()} | {r for r, _ in self._waiting}
        self.retired += len(self._live) + len(self._waiting)
        self._live.clear()
        self._seqs.clear()
        self._waiting.clear()
        self.running = 0
        for req in reqs:
            req.mailbox.put(Failure(error))
