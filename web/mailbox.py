"""Handing results from the inference thread to a waiting request, under gevent or under real threads.

Under gunicorn's gevent worker the stdlib is monkey-patched: threading.Event is a gevent Event, which a
foreign OS thread must not set. There, the waiting greenlet owns an async watcher of its hub (libev's
thread-safe wakeup); the inference thread appends to a deque and calls send(), and the hub sets a gevent
Event, so the greenlet waits cooperatively and the loop stays free. Under the threaded dev server nothing is
patched and a real threading.Event does the same job.
"""
from __future__ import annotations

import collections
import threading

try:
    from gevent import monkey as _monkey
except ImportError:  # gevent is only needed for the gunicorn worker
    _monkey = None

TIMEOUT = object()  # what get() returns when nothing arrived in time


def under_gevent() -> bool:
    return _monkey is not None and _monkey.is_module_patched("threading")


def _original(module: str, name: str):
    return _monkey.get_original(module, name) if _monkey is not None else getattr(__import__(module), name)


def start_thread(target) -> None:
    """Start a real OS thread even when `threading` is patched (a patched Thread would be a greenlet)."""
    _original("_thread", "start_new_thread")(target, ())


def real_lock():
    return _original("_thread", "allocate_lock")()


def real_queue():
    """A queue an OS thread can block on: the C SimpleQueue, which gevent's patch_queue would replace."""
    return _original("queue", "SimpleQueue")()


class Mailbox:
    """One reader (the request's greenlet or thread), one writer (the inference thread)."""

    def __init__(self) -> None:
        self._items: collections.deque = collections.deque()
        self._lock = real_lock()  # held for microseconds: orders put() against close()
        self._closed = False
        if under_gevent():
            import gevent
            import gevent.event
            self._event = gevent.event.Event()
            self._watcher = gevent.get_hub().loop.async_()
            self._watcher.start(self._event.set)
        else:
            self._event = threading.Event()
            self._watcher = None

    def put(self, item) -> int:
        """Called from any thread; returns how many items wait unread (0 once closed)."""
        with self._lock:
            if self._closed:
                return 0
            self._items.append(item)
            if self._watcher is not None:
                self._watcher.send()
            else:
                self._event.set()
            return len(self._items)

    def get(self, timeout: float | None = None):
        """The next item, or TIMEOUT; waits cooperatively under gevent."""
        while True:
            if self._items:
                return self._items.popleft()
            # clear before the second look: a put() after it sets the event again, so no wakeup is lost
            self._event.clear()
            if self._items:
                continue
            if not self._event.wait(timeout):
                return TIMEOUT

    def close(self) -> None:
        """Stop listening; later put()s are dropped (the watcher must not be sent to once closed)."""
        with self._lock:
            self._closed = True
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher.close()
                self._watcher = None
