"""What a running journey knows: its state (a JSON row between requests) and the request at hand."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from twostep.errors import NotAuthenticated, TwostepError
from twostep.i18n import translate
from twostep.oauth.signin import AuthorizationRequest
from twostep.policy import AuthConfig
from twostep.services.accounts import get_user
from twostep.services.factors import second_factor_required
from twostep.services.reauth import factor_is_fresh, require_fresh_factor
from twostep.services.runtime import Actor, Runtime, totp_enabled
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord

__all__ = ["JourneyState", "Sealed", "StepContext", "StepError", "unseal"]


class Sealed(BaseModel):
    """A value encrypted with the server's SecretBox, bound to its journey session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    blob: str


class JourneyState(BaseModel):
    """Everything a journey carries from one request to the next: plain JSON, never pickled.

    No password, code or secret is ever kept here in the clear; recovery codes waiting to be
    shown are sealed with the session id as associated data.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    step: str
    client_id: str
    user_id: str | None = None
    # RFC 8176 methods used so far (pwd, otp, recovery) and when the last one was.
    amr: list[str] = Field(default_factory=list)
    auth_time: float | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    # Wrong answers per step id, for the steps that give up after a number of them.
    attempts: dict[str, int] = Field(default_factory=dict)
    # The authenticator this journey registered and still has to confirm with a first code.
    registered: str | None = None
    recovery_codes: Sealed | None = None
    # A new key for the user's authenticator, shown and not yet confirmed (replace_totp).
    replacement: Sealed | None = None
    # The OAuth authorization request this journey answers: its end issues an authorization
    # code too. Rows written before it had a type keep it under "oauth", in the same shape.
    authorization: AuthorizationRequest | None = Field(
        default=None, validation_alias=AliasChoices("authorization", "oauth")
    )
    # The step id and payload last shown, for showing them again (a reloaded page).
    shown: Sealed | None = None

    def authenticated_with(self, method: str, now: float) -> None:
        if method not in self.amr:
            self.amr = [*self.amr, method]
        self.auth_time = now


@dataclass(frozen=True, slots=True)
class StepError:
    """The error a step answers with: a stable code and a translatable text."""

    code: str
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None

    @classmethod
    def of(cls, exc: TwostepError) -> StepError:
        return cls(exc.code, exc.msgid, dict(exc.params), exc.retry_after)

    def detail(self, locale: str) -> str:
        return translate(locale, self.msgid, **self.params)

    def as_json(self, locale: str) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "detail": self.detail(locale)}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


@dataclass(slots=True)
class StepContext:
    """One request's view of a journey: who asks, where, the input, and the state to advance."""

    rt: Runtime
    actor: Actor
    env: EnvironmentRecord
    app: ApplicationRecord
    config: AuthConfig
    session_id: str
    state: JourneyState
    input: dict[str, Any]
    # The error that sent the journey down its last failure branch (a reject step may repeat it).
    last_error: StepError | None = None

    @property
    def now(self) -> float:
        return self.rt.clock.now()

    @property
    def totp_enabled(self) -> bool:
        return totp_enabled(self.rt.settings, self.config)

    def consume(self, *names: str) -> None:
        """Drop secrets from the input once a step used them, so later steps cannot copy them."""
        self.input = {k: v for k, v in self.input.items() if k not in names}

    async def user(self) -> UserRecord | None:
        if self.state.user_id is None:
            return None
        view = await get_user(self.rt, self.env, self.state.user_id, self.app.client_id)
        return view.user

    async def require_fresh_factor(self) -> None:
        """Spec 3b.2, before a step weakens the signed-in user's second factor: this journey
        (or the session it started from) proved one at most ``TWOSTEP_REAUTH_S`` seconds ago."""
        if self.state.user_id is None:
            raise NotAuthenticated()
        await require_fresh_factor(
            self.rt,
            self.actor,
            self.env,
            self.state.user_id,
            client_id=self.app.client_id,
            amr=self.state.amr,
            auth_time=self.state.auth_time,
        )

    async def scope(self) -> dict[str, Any]:
        """What expressions read: ``user`` (None until identified), ``input`` and ``vars``."""
        user: dict[str, Any] | None = None
        if self.state.user_id is not None:
            view = await get_user(self.rt, self.env, self.state.user_id, self.app.client_id)
            # Account-wide (spec 3b.1): an authenticator in any application of the environment.
            has_totp = await second_factor_required(
                self.rt, self.env, self.state.user_id, self.app.client_id
            )
            user = {
                "id": view.user.id,
                "email": view.user.email,
                "username": view.user.username,
                "phone": view.user.phone,
                "status": view.user.status,
                "has_totp": has_totp,
                "lock_closed": view.user.lock_closed,
                "authenticated": bool(self.state.amr),
                "amr": list(self.state.amr),
                # A second factor at most TWOSTEP_REAUTH_S old (spec 3b.2); never a bypass code.
                "fresh_factor": factor_is_fresh(self.rt, self.state.amr, self.state.auth_time),
            }
        return {"user": user, "input": self.input, "vars": self.state.vars}

    def seal(self, value: Any) -> Sealed:
        key_id, blob = self.rt.box.encrypt(json.dumps(value).encode(), aad=self._aad)
        return Sealed(key_id=key_id, blob=base64.b64encode(blob).decode())

    def unseal(self, sealed: Sealed) -> Any:
        return unseal(self.rt, self.session_id, sealed)

    @property
    def _aad(self) -> bytes:
        return _aad(self.session_id)


def _aad(session_id: str) -> bytes:
    """Sealed values are bound to their journey session: no other session can open them."""
    return f"journey:{session_id}".encode()


def unseal(rt: Runtime, session_id: str, sealed: Sealed) -> Any:
    """A value ``StepContext.seal`` sealed in the session ``session_id``."""
    plain = rt.box.decrypt(sealed.key_id, base64.b64decode(sealed.blob), aad=_aad(session_id))
    return json.loads(plain)
