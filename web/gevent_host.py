"""The engine's Host (engine/host.py) under gunicorn's gevent worker, where the stdlib is monkey-patched.

threading.Thread would be a greenlet and threading.Lock a gevent lock, so the engine thread and its queue and
locks come from gevent's saved originals. A request greenlet waits on an async watcher of its hub (libev's
thread-safe wakeup): the engine thread sends to it, the hub sets a gevent Event, and the greenlet resumes
without ever blocking the loop. Blocking work (reading a checkpoint) runs in the hub's threadpool.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import gevent
import gevent.event
from gevent import monkey

from engine.host import wait_for

T = TypeVar("T")


def under_gevent() -> bool:
    return monkey.is_module_patched("threading")


class _WatcherSignal:
    def __init__(self) -> None:
        self._event = gevent.event.Event()
        self._watcher = gevent.get_hub().loop.async_()
        self._watcher.start(self._event.set)
        self.wait = self._event.wait
        self.clear = self._event.clear

    def notify(self) -> None:
        self._watcher.send()

    def close(self) -> None:
        self._watcher.stop()
        self._watcher.close()


class GeventHost:
    def start_thread(self, target: Callable[[], None]) -> None:
        monkey.get_original("_thread", "start_new_thread")(target, ())

    def lock(self):
        return monkey.get_original("_thread", "allocate_lock")()

    def queue(self):
        return monkey.get_original("queue", "SimpleQueue")()  # the C queue, which patch_queue would replace

    def signal(self) -> _WatcherSignal:
        return _WatcherSignal()

    def run_blocking(self, fn: Callable[[], T]) -> T:
        return gevent.get_hub().threadpool.apply(fn)

    # the unpatched calls: gevent's would watch the child from its hub, which only its own thread may do
    def spawn(self, argv: list[str], env: dict[str, str], file_actions: list[tuple]) -> int:
        return monkey.get_original("os", "posix_spawn")(argv[0], argv, env, file_actions=file_actions)

    def wait_process(self, pid: int) -> int:
        return wait_for(monkey.get_original("os", "waitpid"), pid)
