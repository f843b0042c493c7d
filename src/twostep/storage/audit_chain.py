"""The hash chain of the audit trail: the canonical form of an event and its link hash.

Defined once, here, and documented in docs/audit-trail.md so that anyone holding an export
can recompute it: an event's hash is the SHA-256 (lowercase hex) of the previous event's hash
(64 hex characters; ``GENESIS`` for the first event of a chain) followed by the RFC 8785
(JSON Canonicalization Scheme) form of seven fields, exactly as the export shows them:
``action``, ``actor``, ``at`` (ISO 8601 UTC, as exported), ``details``, ``ip``, ``outcome``,
``user_id``. The position (``seq``) is not hashed: the links are the order.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = ["GENESIS", "canonical_json", "event_body", "event_time", "link_hash"]

GENESIS = "0" * 64
# ES2019 JSON.stringify escapes a lone surrogate; Python's encoder would emit it raw.
_SURROGATE = re.compile("[\ud800-\udfff]")


def event_time(at: float) -> str:
    """An event's time as the export writes it and the hash covers it (microseconds)."""
    return datetime.fromtimestamp(at, tz=UTC).isoformat()


def _string(text: str) -> str:
    return _SURROGATE.sub(_escaped, json.dumps(text, ensure_ascii=False))


def _number(value: float) -> str:
    """ECMAScript's Number::toString, which RFC 8785 section 3.2.2.3 prescribes."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities have no JSON form")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number(-value)
    # repr is the shortest string that reads back the same double: ECMAScript's digits too.
    _, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    raw = "".join(map(str, digit_tuple))
    digits = raw.rstrip("0")
    # value == int(digits) * 10 ** (n - k): k significant digits, the point after the n-th
    k = len(digits)
    n = int(exponent) + len(raw)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if n > 0 else '-'}{abs(n - 1)}"


def _plain(value: Any) -> bool:
    """No float and only ASCII keys: then Python's own encoder writes RFC 8785's bytes."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return not isinstance(value, float)


def canonical_json(value: Any) -> str:
    """``value`` in RFC 8785 form: no whitespace, keys sorted by UTF-16 code units."""
    return _plain_json(value) if _plain(value) else _general(value)


def _plain_json(value: Any) -> str:
    """RFC 8785 form of a value ``_plain`` accepts, by Python's own encoder (in C)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if text.isascii() else _SURROGATE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _general(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_general(v) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("JSON object keys are strings")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(f"{_string(k)}:{_general(value[k])}" for k in keys) + "}"
    raise TypeError(f"{type(value).__name__} has no JSON form")


def event_body(
    *,
    at: float,
    actor: str,
    action: str,
    user_id: str | None,
    outcome: str,
    ip: str | None,
    details: dict[str, Any] | None,
) -> bytes:
    """The canonical bytes of an event's content: what its hash covers besides the link."""
    fields = {
        "action": action,
        "actor": actor,
        "at": event_time(at),
        "details": details,
        "ip": ip,
        "outcome": outcome,
        "user_id": user_id,
    }
    return canonical_json(fields).encode()


def link_hash(prev_hash: str, body: bytes) -> str:
    """The event's hash: SHA-256 over the previous hash (hex) and the event's canonical form."""
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()
