"""Signing keys: created once, lazily, whatever the concurrency; rotated with the old public
key published until the tokens it signed have expired; sealed at rest."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from tests.oauth.support import decode, new_world
from twostep.clock import FrozenClock
from twostep.oauth import keys
from twostep.oauth.introspection import introspect, verify_access_token
from twostep.services.keys import rotate_keys
from twostep.services.runtime import Runtime
from twostep.storage.tables import signing_keys


async def key_rows(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.transaction() as tx:
        return [dict(row._mapping) for row in await tx.execute(select(signing_keys))]


async def test_the_first_key_is_made_once_by_ten_concurrent_callers(runtime: Runtime) -> None:
    made = await asyncio.gather(*(keys.current_signing_key(runtime) for _ in range(10)))
    assert len({key.kid for key in made}) == 1
    rows = await key_rows(runtime)
    assert len(rows) == 1
    assert rows[0]["kid"] == made[0].kid
    assert rows[0]["alg"] == "ES256"
    assert rows[0]["generation"] == 1
    # Later calls keep using it.
    assert (await keys.current_signing_key(runtime)).kid == made[0].kid


async def test_jwks_publishes_public_halves_only(runtime: Runtime) -> None:
    current = await keys.current_signing_key(runtime)
    published = await keys.jwks(runtime)
    assert [key["kid"] for key in published["keys"]] == [current.kid]
    (jwk,) = published["keys"]
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert jwk["alg"] == "ES256"
    assert jwk["use"] == "sig"
    assert "d" not in jwk
    json.dumps(published)  # serializable as the endpoint's body


async def test_jwks_is_empty_before_any_key(runtime: Runtime) -> None:
    assert await keys.jwks(runtime) == {"keys": []}


async def test_private_keys_are_sealed(runtime: Runtime) -> None:
    current = await keys.current_signing_key(runtime)
    private_d = current.key.as_dict(private=True)["d"]
    assert isinstance(private_d, str)
    (row,) = await key_rows(runtime)
    assert private_d not in repr(row)
    assert private_d.encode() not in bytes(row["private_ciphertext"])
    assert row["key_id"] == runtime.box.primary_key_id


async def test_rotation_keeps_the_old_key_published_until_its_tokens_expired(
    runtime: Runtime, clock: FrozenClock
) -> None:
    world = await new_world(runtime)
    old_tokens = await world.login(access_token_expiration=7200)
    old = await keys.current_signing_key(runtime)
    assert (await decode(runtime, old_tokens.access_token)).header["kid"] == old.kid

    new_kid = await keys.rotate_signing_keys(runtime, publish_for_s=3600)
    assert new_kid != old.kid
    assert (await keys.current_signing_key(runtime)).kid == new_kid
    assert [k["kid"] for k in (await keys.jwks(runtime))["keys"]] == [new_kid, old.kid]
    # New tokens are signed by the new key; the old key's tokens still verify.
    new_tokens = await world.login()
    assert (await decode(runtime, new_tokens.access_token)).header["kid"] == new_kid
    assert old_tokens.id_token is not None
    await decode(runtime, old_tokens.id_token)
    assert (await verify_access_token(runtime, old_tokens.access_token)).user_id == world.user.id
    assert (await introspect(runtime, old_tokens.access_token))["active"] is True

    clock.advance(3599)
    assert [k["kid"] for k in (await keys.jwks(runtime))["keys"]] == [new_kid, old.kid]
    assert (await introspect(runtime, old_tokens.access_token))["active"] is True

    # publish_until reached: the old key leaves the JWKS, and what it signed no longer
    # verifies (here a token that outlived it, since it was given 7200 s against 3600).
    clock.advance(1)
    assert [k["kid"] for k in (await keys.jwks(runtime))["keys"]] == [new_kid]
    assert (await introspect(runtime, old_tokens.access_token)) == {"active": False}
    rows = {row["kid"]: row for row in await key_rows(runtime)}
    assert rows[old.kid]["retired_at"] == clock.now() - 3600
    assert rows[old.kid]["publish_until"] == clock.now()
    assert rows[new_kid]["retired_at"] is None


async def test_rotating_twice_keeps_each_retired_key_on_its_own_schedule(
    runtime: Runtime, clock: FrozenClock
) -> None:
    first = (await keys.current_signing_key(runtime)).kid
    second = await keys.rotate_signing_keys(runtime, publish_for_s=100)
    clock.advance(50)
    third = await keys.rotate_signing_keys(runtime, publish_for_s=100)
    assert [k["kid"] for k in (await keys.jwks(runtime))["keys"]] == [third, second, first]
    clock.advance(50)  # the first key's 100 s are over, the second's are not
    assert [k["kid"] for k in (await keys.jwks(runtime))["keys"]] == [third, second]
    clock.advance(50)
    assert [k["kid"] for k in (await keys.jwks(runtime))["keys"]] == [third]


async def test_concurrent_rotations_each_make_one_key(runtime: Runtime) -> None:
    await keys.current_signing_key(runtime)
    kids = await asyncio.gather(
        *(keys.rotate_signing_keys(runtime, publish_for_s=60) for _ in range(3))
    )
    assert len(set(kids)) == 3
    rows = await key_rows(runtime)
    assert sorted(row["generation"] for row in rows) == [1, 2, 3, 4]
    current = [row for row in rows if row["retired_at"] is None]
    assert len(current) == 1
    assert current[0]["kid"] == (await keys.current_signing_key(runtime)).kid


async def test_rotating_the_secret_box_key_rewraps_the_signing_keys(runtime: Runtime) -> None:
    world = await new_world(runtime)
    before = await keys.current_signing_key(runtime)
    old_box_key = runtime.box.primary_key_id
    report = await rotate_keys(runtime, retire=True)
    assert old_box_key in report.retired
    (row,) = await key_rows(runtime)
    assert row["key_id"] == report.new_key_id
    # The signing key still opens, and is the same key.
    after = await keys.current_signing_key(runtime)
    assert after.kid == before.kid
    assert after.key.as_dict(private=True) == before.key.as_dict(private=True)
    tokens = await world.login()
    assert (await decode(runtime, tokens.access_token)).header["kid"] == before.kid
