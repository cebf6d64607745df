"""Chat messages -> one prompt for a base model, which has no chat template.

The default transcript, documented in the README:

    {system content}\n\n
    User: {content}\n
    Assistant: {content}\n
    Tool: {content}\n          (a tool's result; an assistant's tool calls are its content, as name(arguments))
    ...
    Assistant:

Generation stops when the model begins the next user turn ("\nUser:"), so answers don't run on into an
invented dialogue. A model can carry its own format: `<name>.chat.json` next to a checkpoint file, or
`chat.json` inside a checkpoint folder; CHAT_FORMAT names a JSON file for every other model. The JSON holds
any of the fields below; "{content}" marks where the message goes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant | tool
    content: str


@dataclass(frozen=True)
class ChatFormat:
    system: str = "{content}\n\n"
    user: str = "User: {content}\n"
    assistant: str = "Assistant: {content}\n"
    tool: str = "Tool: {content}\n"  # a tool's result, in a conversation another model's tool calls went through
    generation_prompt: str = "Assistant:"  # no trailing space: GPT-2 words carry their leading space
    stop: tuple[str, ...] = ("\nUser:",)
    # (open, close) markers of a model that thinks before it answers; /api/generate splits that part out
    thinking: tuple[str, ...] = ()

    def render(self, messages: list[Message]) -> str:
        # str.replace rather than str.format: user text may hold braces
        return "".join(getattr(self, m.role).replace("{content}", m.content) for m in messages) \
            + self.generation_prompt

    @classmethod
    def from_json(cls, path: str | Path) -> "ChatFormat":
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            raise ValueError(f"{path}: a chat format is a JSON object with the fields {sorted(known)}")
        if "stop" in data:
            stop = data["stop"]
            data["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        return cls(**data)


def sidecar(checkpoint: Path) -> Path:
    """Where a model's own chat format lives."""
    return checkpoint / "chat.json" if checkpoint.is_dir() else checkpoint.with_suffix(".chat.json")


def for_checkpoint(checkpoint: Path, default: ChatFormat) -> ChatFormat:
    path = sidecar(checkpoint)
    if not path.is_file():
        return default
    try:
        return ChatFormat.from_json(path)
    except (ValueError, TypeError, OSError) as e:  # a bad sidecar should not make the model unusable
        log.warning("ignoring the chat format %s (%s); using the default", path, e)
        return default


def default_format(path: str | None) -> ChatFormat:
    """The format for models without their own: CHAT_FORMAT's file, else the built-in transcript."""
    return ChatFormat.from_json(path) if path else ChatFormat()
