"""Annotation records as text: thinking split out of replies, and the layouts the records are exported in.

Pure functions (no Flask, no database). The server renders training data here with the base model's own chat
transcript (engine/chat_format.py) and hands model.finetune finished text: model/ must not import web/, and the
format is per model (a sidecar chat.json), which only the server resolves. That text export is TRL's standard
preference layout {prompt, chosen, rejected}, so the same file also feeds TRL.
"""
from __future__ import annotations

import json

from engine import ChatFormat, Message

THINK = ("<think>", "</think>")  # what TRL/LLaMA-Factory users' chat templates (Qwen, DeepSeek) expect


def markers(fmt: ChatFormat) -> tuple[str, str] | None:
    t = tuple(fmt.thinking or ())
    return (t[0], t[1]) if len(t) == 2 and t[0] and t[1] else None


def generation_prompt(fmt: ChatFormat, messages: list[Message], enable_thinking: bool) -> tuple[str, bool]:
    """The prompt to complete, and whether it opened a thinking block (the reply then starts inside it).

    With markers defined, thinking on opens the block for the model; off gives it an empty block, so it answers
    directly (Qwen3's enable_thinking=False does the same)."""
    prompt = fmt.render(messages)
    m = markers(fmt)
    if m is None:
        return prompt, False
    return (prompt + m[0], True) if enable_thinking else (prompt + m[0] + m[1], False)


def split_thinking(text: str, fmt: ChatFormat, opened: bool) -> tuple[str | None, str]:
    """(thinking, content) of a generated reply; thinking is None when the format has no markers or none showed."""
    m = markers(fmt)
    if m is None:
        return None, text.strip()
    head, close = m
    if not opened:
        start = text.find(head)
        if start < 0:
            return None, text.strip()
        text = text[start + len(head):]
    end = text.find(close)
    if end < 0:  # cut off while thinking: all of it is thinking
        return text.strip(), ""
    return text[:end].strip(), text[end + len(close):].strip()


def messages_of(rec: dict) -> list[Message]:
    """system prompt, the earlier turns, then the human input being answered."""
    out = [Message("system", rec["system_prompt"])] if rec.get("system_prompt") else []
    out += [Message(m["role"], m["content"]) for m in rec.get("context") or []]
    return out + [Message("user", rec["human_input"])]


def reply_with_thinking(content: str, thinking: str | None, m: tuple[str, str] | None) -> str:
    if thinking and m:
        return f"{m[0]}{thinking}{m[1]}{content}"
    return content


def completion(fmt: ChatFormat, reply: str) -> str:
    """What follows the generation prompt when the assistant says `reply`: its turn minus the prompt's part."""
    turn = fmt.assistant.replace("{content}", reply)
    return turn[len(fmt.generation_prompt):] if turn.startswith(fmt.generation_prompt) else turn


def _answer(fmt: ChatFormat, content: str, thinking: str | None) -> str:
    # the thinking block follows the generation prompt directly, as generation_prompt() puts it (an empty block
    # when none was recorded, as thinking off does), so training text and generation prompts agree
    m = markers(fmt)
    block = f"{m[0]}{thinking or ''}{m[1]}" if m else ""
    return block + completion(fmt, content)


def to_text(rec: dict, fmt: ChatFormat) -> dict:
    """TRL's standard layout, rendered in the model's transcript: what model.finetune reads."""
    out = {"prompt": fmt.render(messages_of(rec)), "chosen": _answer(fmt, rec["chosen"], rec.get("chosen_thinking"))}
    if rec.get("rejected"):
        out["rejected"] = _answer(fmt, rec["rejected"], rec.get("rejected_thinking"))
    return out


def to_trl(rec: dict) -> dict:
    """TRL's conversational layout: prompt messages, chosen/rejected assistant turns (roleplay: messages)."""
    msgs = [{"role": m.role, "content": m.content} for m in messages_of(rec)]
    chosen = {"role": "assistant", "content": reply_with_thinking(rec["chosen"], rec.get("chosen_thinking"), THINK)}
    if not rec.get("rejected"):
        return {"messages": msgs + [chosen]}
    rejected = reply_with_thinking(rec["rejected"], rec.get("rejected_thinking"), THINK)
    return {"prompt": msgs, "chosen": [chosen], "rejected": [{"role": "assistant", "content": rejected}]}


def to_llamafactory(rec: dict) -> dict:
    """LLaMA-Factory's sharegpt layout: conversations, with chosen/rejected for a preference dataset."""
    frm = {"user": "human", "assistant": "gpt"}
    conv = [{"from": frm[m.role], "value": m.content} for m in messages_of(rec) if m.role != "system"]
    out: dict = {"conversations": conv}
    chosen = {"from": "gpt", "value": reply_with_thinking(rec["chosen"], rec.get("chosen_thinking"), THINK)}
    if rec.get("rejected"):
        out["chosen"] = chosen
        out["rejected"] = {"from": "gpt",
                           "value": reply_with_thinking(rec["rejected"], rec.get("rejected_thinking"), THINK)}
    else:
        conv.append(chosen)
    if rec.get("system_prompt"):
        out["system"] = rec["system_prompt"]
    return out


def jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
