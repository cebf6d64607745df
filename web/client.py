"""A terminal chat client for any OpenAI-compatible server (this one, vLLM, LMDeploy, llama.cpp, Ollama...).

    python -m web.client --base-url http://localhost:5002/v1 --api-key KEY [--model ID] [--system TEXT] [--history N]

Answers stream in as they are generated. The last N messages (user and assistant) are sent as context with
each question, after the system prompt; `/reset` forgets them, `/exit` (or Ctrl-D) quits, Ctrl-C stops an
answer. Only the standard library: the openai SDK is a test dependency, not an install one.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

try:
    import readline  # noqa: F401  (line editing and history for input(), where the platform has it)
except ImportError:
    pass

PROMPT = "you> "
TIMEOUT_S = 300


class ClientError(Exception):
    """An error the server answered, or a connection failure, worded for the user."""


def api_base(url: str) -> str:
    """The OpenAI SDK's convention is a base URL ending in /v1; a bare http://host:port gets it added."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


def context(system: str | None, history: list[dict], keep: int) -> list[dict]:
    """The messages sent with a question: the system prompt, then the last `keep` messages of the history."""
    recent = history[-keep:] if keep > 0 else []
    return ([{"role": "system", "content": system}] if system else []) + recent


class Chat:
    def __init__(self, base_url: str, api_key: str, model: str | None = None, max_tokens: int | None = None):
        self.base = api_base(base_url)
        self.key = api_key
        self.model = model
        self.max_tokens = max_tokens

    def _open(self, path: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as e:
            raise ClientError(f"HTTP {e.code}: {_error_message(e.read())}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ClientError(f"cannot reach {self.base}: {getattr(e, 'reason', e)}") from None

    def first_model(self) -> str:
        with self._open("/models") as r:
            data = json.load(r).get("data") or []
        if not data:
            raise ClientError("the server lists no models; pass --model")
        return data[0]["id"]

    def stream(self, messages: list[dict]):
        """Yield the answer's text pieces as the server sends them."""
        body = {"model": self.model, "messages": messages, "stream": True}
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        with self._open("/chat/completions", body) as r:
            for raw in r:  # SSE: one `data: {...}` line per chunk, blank lines between, comments start with ':'
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise ClientError(_error_message(data.encode()))
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece


def _error_message(raw: bytes) -> str:
    try:
        err = json.loads(raw)["error"]
        return err["message"] if isinstance(err, dict) else str(err)
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", errors="replace")[:500]


def repl(chat: Chat, system: str | None, keep: int, out=sys.stdout) -> int:
    history: list[dict] = []
    print(f"Chatting with {chat.model} at {chat.base}. /reset forgets the conversation, /exit quits.", file=out)
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            print(file=out)
            return 0
        except KeyboardInterrupt:
            print(file=out)
            continue
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return 0
        if text == "/reset":
            history.clear()
            print("(conversation forgotten)", file=out)
            continue
        history.append({"role": "user", "content": text})
        answer = []
        try:
            for piece in chat.stream(context(system, history, keep)):
                answer.append(piece)
                out.write(piece)
                out.flush()
        except KeyboardInterrupt:
            out.write(" [stopped]")
        except ClientError as e:
            history.pop()  # the question got no answer: do not send it again as context
            print(f"error: {e}", file=out)
            continue
        print(file=out)
        history.append({"role": "assistant", "content": "".join(answer)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m web.client", description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", required=True, help="the API base, e.g. http://localhost:5002/v1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--model", help="a model id; default: the first one the server lists")
    p.add_argument("--system", help="a system prompt sent before the conversation")
    p.add_argument("--history", type=int, default=10, help="messages kept as context (default 10)")
    p.add_argument("--max-tokens", type=int, help="the longest answer, in tokens (default: the server's)")
    args = p.parse_args(argv)
    chat = Chat(args.base_url, args.api_key, args.model, args.max_tokens)
    try:
        chat.model = chat.model or chat.first_model()
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return repl(chat, args.system, args.history)


if __name__ == "__main__":
    sys.exit(main())
