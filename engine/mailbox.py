"""Handing results from the engine thread to the request waiting for them.

One reader (the request's greenlet or thread), one writer (the engine thread). The reader waits on its host's
Signal (engine/host.py): under gevent that is a watcher the hub wakes cooperatively, so a waiting request never
blocks the loop that serves the others.
"""
from __future__ import annotations

import collections

from .host import Host

TIMEOUT = object()  # what get() returns when nothing arrived in time


class Mailbox:
    def __init__(self, host: Host) -> None:
        self._items: collections.deque = collections.deque()
        self._lock = host.lock()  # held for microseconds: orders put() against close()
        self._closed = False
        self._signal = host.signal()

    def put(self, item) -> int:
        """Called from any thread; returns how many items wait unread (0 once closed)."""
        with self._lock:
            if self._closed:
                return 0
            self._items.append(item)
            self._signal.notify()
            return len(self._items)

    def get(self, timeout: float | None = None):
        """The next item, or TIMEOUT."""
        while True:
            if self._items:
                return self._items.popleft()
            # clear before the second look: a put() after it notifies again, so no wakeup is lost
            self._signal.clear()
            if self._items:
                continue
            if not self._signal.wait(timeout):
                return TIMEOUT

    def close(self) -> None:
        """Stop listening; later put()s are dropped (a closed signal must not be notified)."""
        with self._lock:
            self._closed = True
            self._signal.close()
