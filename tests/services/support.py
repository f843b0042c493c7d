"""Shared set-up for the service tests: an organization, enrolled users, codes on a frozen clock."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.clock import FrozenClock
from twostep.otp import TotpParams, code_for_step, parse_key_uri, time_step
from twostep.services import enrollment
from twostep.services.accounts import create_user
from twostep.services.organizations import create_organization, environment_for
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.applications import insert_application
from twostep.storage.repositories.organizations import EnvironmentRecord, Principal

ACTOR = Actor("test", "192.0.2.1")
PASSWORD = "correct horse battery staple"


@dataclass
class Phone:
    """What the user's authenticator app knows, plus what confirmation handed back."""

    user_id: str
    secret: bytes
    params: TotpParams
    recovery_codes: list[str]
    client_id: str | None = None

    def step(self, clock: FrozenClock) -> int:
        return time_step(clock.now(), self.params.period)

    def code(self, clock: FrozenClock, offset: int = 0) -> str:
        """The code of the step ``offset`` steps away from the clock's current one."""
        return code_for_step(self.secret, self.params, self.step(clock) + offset)

    def wrong_code(self, clock: FrozenClock) -> str:
        """A well-formed code that matches no step near the current one."""
        near = {self.code(clock, k) for k in range(-3, 4)}
        candidate = int(self.code(clock))
        while f"{candidate:0{self.params.digits}d}" in near:
            candidate = (candidate + 1) % 10**self.params.digits
        return f"{candidate:0{self.params.digits}d}"


async def new_environment(rt: Runtime, domain: str = "acme") -> EnvironmentRecord:
    await create_organization(rt, ACTOR, name=domain.title(), domain=domain, email_domains=[])
    return await environment_for(rt, Principal("test", None), domain, "production")


async def add_application(rt: Runtime, env: EnvironmentRecord, client_id: str) -> str:
    async with rt.db.transaction() as tx:
        await insert_application(
            tx,
            environment_id=env.id,
            client_id=client_id,
            name=client_id,
            is_default=False,
            now=rt.clock.now(),
        )
    return client_id


async def new_user(rt: Runtime, env: EnvironmentRecord, email: str) -> str:
    view = await create_user(rt, ACTOR, env, {"email": email, "password": PASSWORD})
    return view.user.id


async def enroll(
    rt: Runtime,
    clock: FrozenClock,
    env: EnvironmentRecord,
    user_id: str,
    *,
    client_id: str | None = None,
) -> Phone:
    """Register and confirm an authenticator with the current code (which is thereby spent)."""
    registration = await enrollment.register(rt, ACTOR, env, user_id, client_id=client_id)
    key = parse_key_uri(registration.uri)
    phone = Phone(user_id, key.secret, key.params, [], client_id)
    phone.recovery_codes = await enrollment.confirm(
        rt, ACTOR, env, user_id, phone.code(clock), client_id=client_id
    )
    return phone


async def enrolled_user(
    rt: Runtime, clock: FrozenClock, env: EnvironmentRecord, email: str = "ann@acme.test"
) -> Phone:
    return await enroll(rt, clock, env, await new_user(rt, env, email))
