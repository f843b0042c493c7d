"""Events through the outbox (issue 12), delivered by ``event_delivery`` to a real receiver on
127.0.0.1 and verified with the ``standardwebhooks`` library, as an integrator would."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.pg import free_port
from tests.services.support import ACTOR, enrolled_user, new_environment
from tests.services.test_webhooks import Receiver, allowing
from tests.services.test_webhooks import receiver as receiver  # the fixture
from twostep.clock import FrozenClock
from twostep.errors import LockedOut, TwostepError
from twostep.otp.backoff import MAX_DELAY, SUSPEND_AFTER
from twostep.services import enrollment, locks, recovery, verification
from twostep.services import webhook_endpoints as endpoints
from twostep.services.event_delivery import deliver_due
from twostep.services.organizations import (
    issue_api_key,
    patch_auth_config,
    revoke_api_key,
)
from twostep.services.retention import EVENTS_KEPT_DAYS, purge_retained
from twostep.services.runtime import Runtime
from twostep.services.webhook_endpoints import EndpointChange
from twostep.storage.repositories.organizations import EnvironmentRecord


@pytest.fixture
def clock() -> FrozenClock:
    """Now, frozen: receivers check the signature's timestamp against their own clock."""
    return FrozenClock(float(int(time.time())))


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    return allowing(runtime, "127.0.0.0/8")


async def subscribe(
    rt: Runtime, env: EnvironmentRecord, url: str, *types: str
) -> endpoints.IssuedEndpoint:
    return await endpoints.create_endpoint(rt, ACTOR, env, EndpointChange(url, tuple(types)))


async def drain(rt: Runtime) -> None:
    while await deliver_due(rt):
        pass


def verified(receiver: Receiver, secret: str) -> list[dict[str, object]]:
    """Every body the receiver got, each checked with the endpoint's secret."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]


async def test_each_change_fires_its_event_once_signed(
    runtime: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    env = await new_environment(runtime)
    await patch_auth_config(runtime, ACTOR, env, {"lock": {"enabled": True}})
    hook = await subscribe(runtime, env, receiver.url)
    phone = await enrolled_user(runtime, clock, env)
    user = phone.user_id
    await recovery.regenerate(runtime, ACTOR, env, user)
    phone.recovery_codes = await recovery.regenerate(runtime, ACTOR, env, user)
    await recovery.use_recovery_code(runtime, ACTOR, env, user, phone.recovery_codes[0])
    await locks.pair_lock(runtime, ACTOR, env, user)
    await locks.set_lock(runtime, ACTOR, env, user, closed=True)
    await locks.set_lock(runtime, ACTOR, env, user, closed=True)  # no change: no event
    await locks.set_lock(runtime, ACTOR, env, user, closed=False)
    refusals = 0
    while refusals < 8:  # past max_failures: the lock is set once, then refuses unchanged
        with pytest.raises(TwostepError) as refused:
            await verification.verify_code(runtime, ACTOR, env, user, phone.wrong_code(clock))
        refusals += 1
        if isinstance(refused.value, LockedOut):
            break
    await enrollment.reset(runtime, ACTOR, env, user)
    key = await issue_api_key(runtime, ACTOR, env, "billing")
    await revoke_api_key(runtime, ACTOR, env, key.key.id)
    await revoke_api_key(runtime, ACTOR, env, key.key.id)  # already revoked: no event
    await drain(runtime)

    bodies = verified(receiver, hook.secret)
    assert [b["type"] for b in bodies] == [
        "totp.enrolled",
        "recovery_codes.regenerated",
        "recovery_codes.regenerated",
        "recovery_code.used",
        "lock.paired",
        "lock.closed",
        "lock.opened",
        "totp.locked",
        "totp.reset",
        "api_key.revoked",
    ]
    assert all(b["data"]["user_id"] == user for b in bodies[:-1])  # type: ignore[index]
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("msg_") for i in ids)
    assert "code" not in str(bodies[0]["data"]).replace("recovery_code", "")


async def test_a_receiver_down_for_a_while_gets_everything_after_it_returns(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    await patch_auth_config(runtime, ACTOR, env, {"lock": {"enabled": True}})
    port = free_port()
    hook = await subscribe(runtime, env, f"http://127.0.0.1:{port}/events", "lock.paired")
    phone = await enrolled_user(runtime, clock, env)  # totp.enrolled: not subscribed
    await locks.pair_lock(runtime, ACTOR, env, phone.user_id)
    await drain(runtime)  # nobody listens: the attempt fails and waits
    [entry] = await endpoints.list_deliveries(runtime, env, hook.endpoint.id, limit=10)
    assert (entry.status, entry.attempts, entry.last_status) == ("pending", 1, None)
    assert entry.last_error == "ConnectError"
    clock.advance(runtime.settings.event_retry_base_s - 1)
    assert await deliver_due(runtime) == 0  # not due yet: back-off

    back = Receiver(port=port)
    server = await asyncio.start_server(back.serve, "127.0.0.1", port)
    try:
        back.script = [503]  # up, but failing once more: the next pause doubles
        clock.advance(1)
        await drain(runtime)
        clock.advance(2 * runtime.settings.event_retry_base_s)
        await drain(runtime)
    finally:
        server.close()
    [body] = [Webhook(hook.secret).verify(r.body, r.headers) for r in back.requests[1:]]
    assert body["type"] == "lock.paired"
    assert back.requests[0].headers["webhook-id"] == back.requests[1].headers["webhook-id"]
    [entry] = await endpoints.list_deliveries(runtime, env, hook.endpoint.id, limit=10)
    assert (entry.status, entry.attempts, entry.last_status) == ("delivered", 3, 200)
    assert (await endpoints.get_endpoint(runtime, env, hook.endpoint.id)).failing_since is None


async def test_a_day_of_failures_fails_the_event_and_disables_the_endpoint(
    runtime: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    env = await new_environment(runtime)
    receiver.status = 500
    hook = await subscribe(runtime, env, receiver.url)
    await enrolled_user(runtime, clock, env)
    await drain(runtime)
    day = runtime.settings.event_retry_window_s
    while clock.now() < hook.endpoint.created_at + day:
        clock.advance(3600)
        await drain(runtime)
    [entry] = await endpoints.list_deliveries(runtime, env, hook.endpoint.id, limit=10)
    assert entry.status == "failed"
    assert entry.last_status == 500
    assert 10 < entry.attempts < 40  # doubling pauses, an hour at most
    endpoint = await endpoints.get_endpoint(runtime, env, hook.endpoint.id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")
    # Switched on again by hand, it receives what happens from then on.
    receiver.status = 200
    change = EndpointChange(enabled=True)
    await endpoints.update_endpoint(runtime, ACTOR, env, hook.endpoint.id, change)
    await enrolled_user(runtime, clock, env, "bob@acme.test")
    await drain(runtime)
    last = receiver.requests[-1]
    assert last.headers["webhook-id"] != receiver.requests[0].headers["webhook-id"]
    assert json.loads(last.body)["type"] == "totp.enrolled"
    # Signed at the (frozen, a day later) clock's time: checked as of then.
    stamp = datetime.fromtimestamp(int(last.headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(hook.secret).sign(last.headers["webhook-id"], stamp, last.body.decode())
    assert last.headers["webhook-signature"] == expected


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(
    runtime: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    env = await new_environment(runtime)
    hook = await subscribe(runtime, env, receiver.url)
    rotated = await endpoints.rotate_secret(runtime, ACTOR, env, hook.endpoint.id)
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != hook.secret
    await enrolled_user(runtime, clock, env)
    await drain(runtime)
    [request] = receiver.requests
    for secret in (hook.secret, rotated.secret):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "totp.enrolled"
    assert len(request.headers["webhook-signature"].split(" ")) == 2


async def test_two_workers_post_each_delivery_once(
    runtime: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    env = await new_environment(runtime)
    hook = await subscribe(runtime, env, receiver.url)
    for n in range(6):
        await enrolled_user(runtime, clock, env, f"user{n}@acme.test")
    await asyncio.gather(drain(runtime), drain(runtime), drain(runtime))
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 6 == len(set(ids))
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert len(verified(receiver, hook.secret)) == 6


async def test_an_endpoint_no_call_may_reach_is_refused(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    with pytest.raises(TwostepError) as refused:
        await subscribe(runtime, env, "http://10.0.0.7/hooks")
    assert refused.value.status == 422


async def test_the_outbox_keeps_a_month_unless_a_delivery_still_waits(
    runtime: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    env = await new_environment(runtime)
    hook = await subscribe(runtime, env, receiver.url)
    await enrolled_user(runtime, clock, env)
    await drain(runtime)
    waiting = await subscribe(runtime, env, f"http://127.0.0.1:{free_port()}/", "totp.enrolled")
    await enrolled_user(runtime, clock, env, "bob@acme.test")
    clock.advance(EVENTS_KEPT_DAYS * 86400 + 1)
    await purge_retained(runtime)
    # The first event went (delivered everywhere); the second still waits on one endpoint.
    assert len(await endpoints.list_deliveries(runtime, env, hook.endpoint.id, limit=10)) == 1
    [left] = await endpoints.list_deliveries(runtime, env, waiting.endpoint.id, limit=10)
    assert left.status == "pending"


async def test_the_hundredth_wrong_code_suspends_once(
    runtime: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    env = await new_environment(runtime)
    hook = await subscribe(runtime, env, receiver.url, "totp.suspended")
    phone = await enrolled_user(runtime, clock, env)
    for _ in range(SUSPEND_AFTER + 2):  # each lock has run out before the next try
        clock.advance(MAX_DELAY + 1)
        with pytest.raises(TwostepError):
            await verification.verify_code(
                runtime, ACTOR, env, phone.user_id, phone.wrong_code(clock)
            )
    await drain(runtime)
    [(headers, body)] = [(r.headers, r.body) for r in receiver.requests]
    assert json.loads(body)["type"] == "totp.suspended"
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
    assert headers["webhook-signature"] == Webhook(hook.secret).sign(
        headers["webhook-id"], stamp, body.decode()
    )
