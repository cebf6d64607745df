"""The client's socket under either server (gunicorn's gevent worker, the Flask dev server): whether the client
hung up, and how long one write to it may block.

WSGI gives an application no way to learn either, so this reads the socket both servers put in the environ.
"""
from __future__ import annotations

import select
import socket


def _socket(environ: dict) -> socket.socket | None:
    return environ.get("gunicorn.socket") or environ.get("werkzeug.socket")


def hung_up(environ: dict) -> bool:
    """True once the client closed its side: the socket reads as end-of-file (or is broken).

    A client waiting for its answer sends nothing, so a readable socket that yields no byte is a hang-up; bytes
    (a pipelined next request) are left where they are. `select` is cooperative under gevent.
    """
    sock = _socket(environ)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or closed under us
        return True


def limit_writes(environ: dict, seconds: float):
    """Make a write that blocks for `seconds` fail, so a client that stops reading ends its stream (the
    server then closes the response, which cancels the request); returns the undo, for when the stream ends."""
    sock = _socket(environ)
    if sock is None or seconds <= 0:
        return lambda: None
    previous = sock.gettimeout()
    sock.settimeout(seconds)

    def undo() -> None:
        try:
            sock.settimeout(previous)
        except OSError:  # already closed
            pass

    return undo
