"""What names an organization or a user: one rule for each, used by the API schemas, the services
and the CLI alike.

Each identifier is an ``Annotated`` string type: pydantic checks it wherever it is a field (a
request body, a service's ``TypeAdapter``), and ``field_errors`` turns pydantic's refusal into
the ``{loc, msg, type}`` entries of a ``ValidationFailed``, without the refused values.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints, ValidationError

__all__ = [
    "DOMAIN_PATTERN",
    "MAX_DOMAIN",
    "MAX_NEW_DOMAIN",
    "Domain",
    "Email",
    "EmailDomain",
    "Password",
    "Phone",
    "PrintableName",
    "Username",
    "field_errors",
]

# An organization's domain is one DNS label, lower-case.
DOMAIN_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
MAX_DOMAIN = 63
# A new domain has at most 52 characters: "<domain>-production" is the client_id (64 at most)
# of the environment's default application.
MAX_NEW_DOMAIN = 52
Domain = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=MAX_NEW_DOMAIN)]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EmailDomain = Annotated[
    str, StringConstraints(max_length=253, pattern=rf"^{_LABEL}(?:\.{_LABEL})+$")
]
Email = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,255}$", max_length=320),
]
# No '@': the password step takes an email or a username, so a username shaped like someone's
# email would name two accounts (issue 9).
Username = Annotated[str, StringConstraints(pattern=r"^[\w.+-]{1,150}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{3,31}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
# Printable text: no control characters (NUL included), which no name needs.
PrintableName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


def field_errors(exc: ValidationError, *loc: str | int) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{loc, msg, type}`` under ``loc``, without the refused values."""
    return [
        {"loc": [*loc, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
