"""API keys: `Authorization: Bearer <key>`, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac

from .errors import Unauthorized


def _digest(key: str) -> bytes:
    # comparing fixed-length digests hides the keys' lengths as well as their contents
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyChecker:
    def __init__(self, keys: tuple[str, ...]):
        self._digests = [_digest(k) for k in keys]

    def check(self, authorization: str | None) -> None:
        """Raise a 401 unless the header carries one of the keys."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("You didn't provide an API key. Send it in the Authorization header as "
                               "'Authorization: Bearer YOUR_KEY'.", code="missing_api_key")
        given = _digest(token.strip())
        # no early exit: every key is compared whether or not an earlier one matched
        matched = False
        for d in self._digests:
            matched |= hmac.compare_digest(given, d)
        if not matched:
            raise Unauthorized("Incorrect API key provided.", code="invalid_api_key")
