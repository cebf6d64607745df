"""A request as the engine and the server see it: the outputs of each decoding step (Output, or a Failure) in
the request's mailbox, read by the greenlet or thread that submitted it."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

from model.sampling import SamplingParams, TokenLogprob

from .errors import Unavailable
from .mailbox import TIMEOUT, Mailbox

# outputs a request may leave unread before it is cancelled: a stream whose client stopped reading blocks on
# its socket and stops taking them, while the engine would go on decoding for it; a reader that keeps up holds
# one or two
MAX_UNREAD = 1024
log = logging.getLogger(__name__)


class Output(NamedTuple):
    """What one decoding step produced for one choice of a request. A named tuple, not a frozen dataclass: one is
    built per token of every stream, and an engine process sends them by the hundred per step as plain tuples.
    Built, pickled, unpickled and rebuilt that way, an output costs 0.8 µs in the engine process and 0.5 µs in the
    worker, against 2.6 and 1.4 µs as a frozen dataclass (this project's EPYC, 256 a message)."""

    choice: int
    token: int
    text: str
    logprob: TokenLogprob | None
    finish_reason: str | None  # 'stop' | 'length' when the choice is finished
    n_tokens: int  # tokens generated so far for this choice
    cached_tokens: int  # prompt tokens read from the prefix cache rather than prefilled


@dataclass(frozen=True)
class Failure:
    """The engine could not run this request; `error` is the exception, for the request side to report."""

    error: BaseException


def one_by_one(batches):
    """The items of batches() one at a time, None (an idle keepalive) as it is."""
    for batch in batches:
        if batch is None:
            yield None
        else:
            yield from batch


class Request:
    """A submitted request: one sequence per choice; iterate `outputs()` on the submitting greenlet/thread."""

    def __init__(self, engine, prompts: list[list[int]], params: list[SamplingParams]):
        """`engine`: an Engine or a ProcessEngine, which close() asks to cancel what is unfinished."""
        self.engine = engine
        self.prompts = prompts
        self.params = params
        self.mailbox = Mailbox(engine.host)
        self.unfinished = len(prompts)
        self.closed = False

    def outputs(self, keepalive: float | None = None):
        """Yield Output and Failure items until every choice finished; None when `keepalive` s pass idle."""
        return one_by_one(self.batches(keepalive))

    def batches(self, keepalive: float | None = None):
        """Like outputs(), but every item waiting at each wake-up at once: a non-empty list of Output items,
        perhaps ending in one Failure, or None when `keepalive` s pass idle. A reader that keeps up gets one
        item per list; one that fell behind catches up in one go, never waiting for more to arrive."""
        while self.unfinished and not self.closed:
            items = self.mailbox.get_all(keepalive)
            if items is TIMEOUT:
                yield None
                continue
            yield self.account(items)
        self.close()

    def account(self, items: list) -> list:
        """Count the choices these items finish; the items, cut after a Failure (nothing can follow one)."""
        for k, item in enumerate(items):
            if isinstance(item, Failure):
                self.unfinished = 0
                del items[k + 1:]
                break
            if item.finish_reason is not None:
                self.unfinished -= 1
        return items

    def put(self, item: Output | Failure) -> bool:
        """Hand the reader an item (any thread); False when an unfinished choice's reader is MAX_UNREAD behind, for
        the engine to end the request with client_not_reading()."""
        unread = self.mailbox.put(item)
        return unread <= MAX_UNREAD or isinstance(item, Failure) or item.finish_reason is not None

    def close(self) -> None:
        """Stop listening; unfinished choices are cancelled, their slots freed before the next step."""
        if self.closed:
            return
        self.closed = True
        self.mailbox.close()
        if self.unfinished:
            self.engine.cancel(self)


def client_not_reading() -> Failure:
    """What ends a request whose reader fell MAX_UNREAD outputs behind. Logged, so that the server's log says why
    a stream ended early, as gunicorn's does for a write that timed out (STREAM_WRITE_TIMEOUT)."""
    log.warning("a request was ended: its client read none of its last %d tokens (client_not_reading)", MAX_UNREAD)
    return Failure(Unavailable(f"The client read none of the last {MAX_UNREAD} tokens; the request was ended.",
                               "client_not_reading"))
