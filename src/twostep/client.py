"""A typed client for Twostep's journey API: log users in from your own UI or a script.

It speaks only HTTP (httpx) and imports nothing else of Twostep, so it can be vendored::

    from twostep.client import JourneyClient, Success

    with JourneyClient("http://127.0.0.1:8000", client_id="demo-production") as twostep:
        result = twostep.login("demo@demo.test", "demo-password", code=lambda: input("Code: "))
        if isinstance(result, Success):
            print(result.token, result.amr)

``login`` drives the ``login`` journey: the password step, then the code (or a recovery code)
when the user has an authenticator. ``start`` and ``submit`` drive any journey step by step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

import httpx

__all__ = [
    "Answer",
    "JSONObject",
    "JourneyClient",
    "JourneyError",
    "ProblemError",
    "Rejection",
    "Step",
    "Success",
    "parse_answer",
]

JSONObject: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JourneyError:
    """Why a step asks again, or why the journey was rejected: a stable code and a text."""

    code: str
    detail: str
    retry_after: int | None = None

    @classmethod
    def of(cls, body: JSONObject) -> JourneyError:
        return cls(str(body["code"]), str(body.get("detail", "")), body.get("retry_after"))


@dataclass(frozen=True, slots=True)
class Step:
    """A step waiting for input: ``Password``, ``TotpRegistration``, ``TotpAuthentication``,
    ``RecoveryCode``, ``RecoveryCodes``; ``error`` is set when it asks again."""

    session: str
    step_id: str
    payload: JSONObject
    error: JourneyError | None = None


@dataclass(frozen=True, slots=True)
class Success:
    """The journey ended well; ``token`` is the bearer token of the user's session."""

    data: JSONObject = field(default_factory=dict)

    @property
    def token(self) -> str:
        return str(self.data["token"])

    @property
    def amr(self) -> list[str]:
        return list(self.data.get("amr", []))


@dataclass(frozen=True, slots=True)
class Rejection:
    error: JourneyError


Answer: TypeAlias = Step | Success | Rejection


class ProblemError(Exception):
    """An HTTP problem (RFC 9457) instead of a journey answer, e.g. ``journey_expired``."""

    def __init__(self, status: int, body: JSONObject) -> None:
        self.status = status
        self.code = str(body.get("code", "error"))
        self.detail = str(body.get("detail", ""))
        self.body = body
        super().__init__(f"{status} {self.code}: {self.detail}")


def parse_answer(body: JSONObject) -> Answer:
    step_id = body["journeyStepId"]
    data: JSONObject = body.get("data") or {}
    if step_id == "Success":
        return Success(data)
    if step_id == "Rejection":
        return Rejection(JourneyError.of(data["error"]))
    error = data.get("error")
    return Step(
        body["session"],
        step_id,
        data.get("payload") or {},
        JourneyError.of(error) if error else None,
    )


class JourneyClient:
    """Synchronous client for one application (``client_id``) of a Twostep server."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        timeout: float = 10.0,
        accept_language: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"Accept-Language": accept_language} if accept_language else {}
        self.client_id = client_id
        self._owns_http = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=headers)

    def __enter__(self) -> JourneyClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def start(self, journey: str = "login", input: JSONObject | None = None) -> Answer:
        """Start a journey; ``input`` is what its first steps read as ``input.*``."""
        body = {"client_id": self.client_id, "input": input or {}}
        return self._answer(self.http.post(f"/api/v1/journeys/{journey}/start", json=body))

    def submit(self, step: Step | str, input: JSONObject | None = None) -> Answer:
        """Answer the step (or the session id) the journey waits on."""
        session = step.session if isinstance(step, Step) else step
        response = self.http.post(
            f"/api/v1/journeys/sessions/{session}/submit", json={"input": input or {}}
        )
        return self._answer(response)

    def login(
        self,
        username: str,
        password: str,
        *,
        code: Callable[[], str] | None = None,
        recovery_code: str | None = None,
        journey: str = "login",
    ) -> Success | Rejection | Step:
        """Run a login journey to its end where it can: the password, then ``code()`` for the
        TOTP challenge, or ``recovery_code`` instead. A wrong code or password ends the run:
        the Step asking again is returned, as is any step this method cannot answer (such as
        ``TotpRegistration`` at an enforced first login)."""
        answer = self.start(journey)
        while isinstance(answer, Step) and answer.error is None:
            if answer.step_id == "Password":
                answer = self.submit(answer, {"username": username, "password": password})
            elif answer.step_id == "TotpAuthentication" and recovery_code is not None:
                answer = self.submit(answer, {"alternative": "recovery_code"})
            elif answer.step_id == "TotpAuthentication" and code is not None:
                answer = self.submit(answer, {"code": code()})
            elif answer.step_id == "RecoveryCode" and recovery_code is not None:
                answer = self.submit(answer, {"code": recovery_code})
            else:
                break
        return answer

    def session(self, token: str) -> JSONObject:
        """The session a token belongs to: ``user_id``, ``amr``, ``auth_time``, ``expires_at``."""
        response = self.http.get(
            "/api/v1/sessions/current", headers={"Authorization": f"Bearer {token}"}
        )
        return self._json(response)

    def sign_out(self, token: str) -> None:
        response = self.http.delete(
            "/api/v1/sessions/current", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code != 204:
            self._json(response)

    def _answer(self, response: httpx.Response) -> Answer:
        return parse_answer(self._json(response))

    @staticmethod
    def _json(response: httpx.Response) -> JSONObject:
        try:
            body = response.json()
        except ValueError:
            body = {"code": "error", "detail": response.text[:200]}
        if response.status_code >= 400:
            raise ProblemError(response.status_code, body if isinstance(body, dict) else {})
        return dict(body)
