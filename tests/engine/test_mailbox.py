"""The mailbox between the engine thread and a request (engine/mailbox.py), and Request.batches on top of it:
everything waiting is taken at once, nothing is lost when only the first of several put()s wakes the reader."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from engine import Failure, Output
from engine.request import Request
from engine.host import THREADS
from engine.mailbox import TIMEOUT, Mailbox


def _out(choice: int, n: int, finish: str | None = None) -> Output:
    return Output(choice, n, f"t{n}", None, finish, n, 0)


def test_get_all_takes_everything_waiting_without_waiting_for_more():
    box = Mailbox(THREADS)
    assert box.get_all(0.01) is TIMEOUT
    assert [box.put(i) for i in range(3)] == [1, 2, 3]  # how many wait unread
    assert box.get_all(0.01) == [0, 1, 2]
    assert box.get_all(0.01) is TIMEOUT
    box.put("a")
    box.put("b")
    assert box.get(0.01) == "a" and box.get_all(0.01) == ["b"]  # get() and get_all() mix


def _gevent_host():
    from web.gevent_host import GeventHost  # the reader waits on the hub's async watcher, as under gunicorn

    return GeventHost()


@pytest.mark.parametrize("host", [lambda: THREADS, _gevent_host], ids=["threads", "gevent"])
def test_no_wakeup_is_lost_between_threads(host):
    """Only a put() into an empty box notifies: a reader that waits must still see every item promptly."""
    box = Mailbox(host())
    n = 20000
    got: list[int] = []

    def write() -> None:
        for i in range(n):
            box.put(i)

    writer = threading.Thread(target=write)
    writer.start()
    while len(got) < n:
        items = box.get_all(5)
        assert items is not TIMEOUT, f"stuck after {len(got)} items"  # a lost wake-up would wait here
        got.extend(items)
    writer.join()
    assert got == list(range(n))


def test_batches_count_finishes_and_end_at_a_failure():
    cancelled = []
    engine = SimpleNamespace(host=THREADS, cancel=cancelled.append)
    req = Request(engine, [[1], [2]], [None, None])
    for item in (_out(0, 1), _out(1, 1), _out(0, 2, "length")):
        req.mailbox.put(item)
    batches = req.batches(keepalive=0.01)
    assert next(batches) == [_out(0, 1), _out(1, 1), _out(0, 2, "length")]
    assert req.unfinished == 1
    assert next(batches) is None  # idle: a keepalive
    error = Failure(RuntimeError("boom"))
    req.mailbox.put(_out(1, 2))
    req.mailbox.put(error)
    req.mailbox.put(_out(1, 3))  # cannot happen after a failure; dropped if it did
    assert next(batches) == [_out(1, 2), error]
    assert list(batches) == [] and req.closed and cancelled == []  # nothing left to cancel


def test_outputs_still_yields_one_item_at_a_time():
    engine = SimpleNamespace(host=THREADS, cancel=lambda req: None)
    req = Request(engine, [[1]], [None])
    for n in (1, 2):
        req.mailbox.put(_out(0, n, "stop" if n == 2 else None))
    assert list(req.outputs()) == [_out(0, 1), _out(0, 2, "stop")]
