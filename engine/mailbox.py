"""Handing results from the engine thread to the request waiting for them.

One reader (the request's greenlet or thread), one writer at a time (the engine thread; put() takes a lock). The
reader waits on its host's Signal (engine/host.py): under gevent that is a watcher the hub wakes cooperatively,
so a waiting request never blocks the loop that serves the others.

Only the put() that finds the box empty wakes the reader: items that arrive while earlier ones wait unread are
picked up by the same wake-up (a reader looks at the box before it ever waits), which spares the engine thread a
cross-thread wake-up per token for every reader that is behind.
"""
from __future__ import annotations

import collections

from .host import Host

TIMEOUT = object()  # what get() and get_all() return when nothing arrived in time


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
            unread = len(self._items)
            # unread > 1: an earlier item is still in the box, so the reader has yet to look and will see this one
            if unread == 1:
                self._signal.notify()
            return unread

    def get(self, timeout: float | None = None):
        """The next item, or TIMEOUT."""
        if not self._wait(timeout):
            return TIMEOUT
        return self._items.popleft()

    def get_all(self, timeout: float | None = None):
        """Every item waiting (a non-empty list, oldest first) without waiting for more, or TIMEOUT."""
        if not self._wait(timeout):
            return TIMEOUT
        items = self._items
        # only the writer adds, only we remove: the items counted now are there to take, one atomic pop each
        return [items.popleft() for _ in range(len(items))]

    def _wait(self, timeout: float | None) -> bool:
        """Until the box holds an item (True), or `timeout` s passed without one (False)."""
        while not self._items:
            # clear before the second look: a put() after it finds the box empty and notifies, so none is lost
            self._signal.clear()
            if self._items:
                return True
            if not self._signal.wait(timeout):
                return bool(self._items)
        return True

    def close(self) -> None:
        """Stop listening; later put()s are dropped (a closed signal must not be notified)."""
        with self._lock:
            self._closed = True
            self._signal.close()
