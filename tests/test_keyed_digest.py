"""One HMAC helper for every derived token: the tokens are the ones issued before it existed."""

from __future__ import annotations

import hashlib
import hmac

from twostep.crypto import keyed_digest, same_token

PEPPER = b"p" * 32


def _old(message: str) -> str:
    return hmac.new(PEPPER, message.encode(), hashlib.sha256).hexdigest()


def test_tokens_issued_before_still_verify() -> None:
    assert keyed_digest(PEPPER, "page-csrf", "s1") == _old("page-csrf:s1")
    assert keyed_digest(PEPPER, "admin", "k1", "1700000000") == _old("admin:k1:1700000000")
    assert keyed_digest(PEPPER, "admin-csrf", "k1.1.ab") == _old("admin-csrf:k1.1.ab")
    assert keyed_digest(PEPPER, "admin-login", "n" * 32) == _old("admin-login:" + "n" * 32)


def test_purposes_keep_tokens_apart() -> None:
    assert keyed_digest(PEPPER, "page-csrf", "x") != keyed_digest(PEPPER, "admin-csrf", "x")
    assert keyed_digest(PEPPER, "page-csrf", "x") != keyed_digest(b"q" * 32, "page-csrf", "x")


def test_same_token_takes_any_text() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("é", "abc")  # non-ASCII is refused, not an error
