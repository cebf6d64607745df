"""How the engine's OS threads meet the server's concurrency: real threads (the dev server, scripts, tests), or
gevent's hub (gunicorn's worker, web/gevent_host.py). The engine takes a Host and never imports gevent.

The engine thread must be a real OS thread, block on a real queue and take real locks even where the stdlib is
monkey-patched; a request waits on a Signal that the engine thread may notify, blocking work (reading a
checkpoint) runs where it does not stall the loop that serves the other requests, and a child process
(engine/process.py) is started and waited for from any thread.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Signal(Protocol):
    """One waiter, notified from any thread."""

    def notify(self) -> None: ...
    def wait(self, timeout: float | None) -> bool: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


class Host(Protocol):
    def start_thread(self, target: Callable[[], None]) -> None: ...
    def lock(self): ...
    def queue(self): ...
    def signal(self) -> Signal: ...
    def run_blocking(self, fn: Callable[[], T]) -> T: ...
    def spawn(self, argv: list[str], env: dict[str, str], file_actions: list[tuple]) -> int: ...
    def wait_process(self, pid: int) -> int: ...


class _EventSignal:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.wait = self._event.wait
        self.clear = self._event.clear
        self.notify = self._event.set

    def close(self) -> None:
        pass


class Threads:
    """Plain threads: nothing is patched, so the stdlib's primitives are the real ones."""

    def start_thread(self, target: Callable[[], None]) -> None:
        threading.Thread(target=target, daemon=True, name="engine").start()

    def lock(self):
        return threading.Lock()

    def queue(self):
        return queue.SimpleQueue()

    def signal(self) -> Signal:
        return _EventSignal()

    def run_blocking(self, fn: Callable[[], T]) -> T:
        return fn()

    def spawn(self, argv: list[str], env: dict[str, str], file_actions: list[tuple]) -> int:
        """Start a program (os.posix_spawn's arguments); its pid."""
        return os.posix_spawn(argv[0], argv, env, file_actions=file_actions)

    def wait_process(self, pid: int) -> int:
        """Block until a spawned process exits; its wait status (0 when it was reaped elsewhere)."""
        return wait_for(os.waitpid, pid)


def wait_for(waitpid: Callable[[int, int], tuple[int, int]], pid: int) -> int:
    """waitpid(pid, 0)'s status, or 0 when the process was reaped elsewhere."""
    try:
        return waitpid(pid, 0)[1]
    except ChildProcessError:  # reaped already (SIGCHLD ignored, or an event loop that reaps every child)
        return 0


THREADS = Threads()
