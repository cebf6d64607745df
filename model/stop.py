"""Stop strings matched on decoded text: text that might begin a stop string is held back, never emitted."""
from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[str, ...] | list[str]):
        self.stops = [s for s in stops if s]
        self._held = ""

    def push(self, text: str) -> tuple[str, bool]:
        """Add decoded text; return (text safe to emit, whether a stop string was reached)."""
        if not self.stops:
            return text, False
        buf = self._held + text
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self._held = ""
            return buf[:min(hits)], True
        hold = max((n for s in self.stops for n in range(min(len(s) - 1, len(buf)), 0, -1)
                    if s.startswith(buf[-n:])), default=0)
        self._held = buf[len(buf) - hold:]
        return buf[:len(buf) - hold], False

    def flush(self) -> str:
        """At the end of generation the held text is no stop string after all: release it."""
        held, self._held = self._held, ""
        return held
