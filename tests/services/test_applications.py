"""Applications (OAuth clients, spec section 2): create, list, read, change, delete, rotate the
secret and authenticate a client, on both engines; every validation rule names its field."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.services.support import ACTOR, enroll, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.errors import Conflict, NotAuthenticated, NotFound, Unauthorized, ValidationFailed
from twostep.services import applications as svc
from twostep.services.accounts import get_user
from twostep.services.audit import list_audit
from twostep.services.authentication import issue_session, read_session
from twostep.services.organizations import environment_for
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord, Principal
from twostep.storage.tables import applications, authenticators, recovery_codes

WEB = {"redirect_uris": ["https://app.example.test/callback"]}


async def sandbox_of(rt: Runtime, domain: str = "acme") -> EnvironmentRecord:
    return await environment_for(rt, Principal("test", None), domain, "sandbox")


async def count(rt: Runtime, table: Any, *where: Any) -> int:
    async with rt.db.transaction() as tx:
        stmt = select(func.count()).select_from(table).where(*where)
        return int((await tx.execute(stmt)).scalar_one())


# -- create, read, list -----------------------------------------------------------------------


async def test_create_with_defaults_and_read_back(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    created = await svc.create_application(runtime, ACTOR, env, {"client_id": "web", **WEB})
    assert created.client_secret is None
    app = created.application
    assert (app.client_id, app.name, app.is_default, app.environment_id) == (
        "web",
        "web",
        False,
        env.id,
    )
    assert app.redirect_uris == ("https://app.example.test/callback",)
    assert app.grant_types == ("authorization_code", "refresh_token")
    assert (app.secret_required, app.has_secret, app.client_secret_hash) == (False, False, None)
    assert (app.access_token_expiration, app.token_format) == (3600, "jwt")
    assert (app.refresh_token, app.first_party, app.totp_override) == (True, True, None)
    assert app.created_at == runtime.clock.now()
    assert app.updated_at is None
    assert await svc.get_application(runtime, env, "web") == app


async def test_every_setting_is_stored(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    values = {
        "client_id": "backend.service_1",
        "name": "Back office (batch)",
        "redirect_uris": ["https://a.example.test/cb?x=1", "http://localhost:8080/cb"],
        "grant_types": ["client_credentials", "authorization_code"],
        "secret_required": True,
        "access_token_expiration": 60,
        "token_format": "opaque",
        "refresh_token": False,
        "first_party": False,
        "totp_override": {"algorithm": "SHA512", "digits": 7},
    }
    app = (await svc.create_application(runtime, ACTOR, env, values)).application
    assert app.name == "Back office (batch)"
    assert app.redirect_uris == ("https://a.example.test/cb?x=1", "http://localhost:8080/cb")
    assert app.grant_types == ("client_credentials", "authorization_code")
    assert (app.secret_required, app.access_token_expiration, app.token_format) == (
        True,
        60,
        "opaque",
    )
    assert (app.refresh_token, app.first_party) == (False, False)
    assert app.totp_override == {"algorithm": "SHA512", "digits": 7}
    assert await svc.get_application(runtime, env, "backend.service_1") == app


async def test_a_generated_client_id(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    first = (await svc.create_application(runtime, ACTOR, env, WEB)).application
    second = (await svc.create_application(runtime, ACTOR, env, {**WEB, "name": "Two"})).application
    assert re.fullmatch(r"app-[0-9a-f]{16}", first.client_id)
    assert re.fullmatch(svc.CLIENT_ID_PATTERN, first.client_id)
    assert first.name == first.client_id
    assert second.client_id != first.client_id
    assert second.name == "Two"


async def test_list_is_paginated_per_environment(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    sandbox = await sandbox_of(runtime)
    created = []
    for n in range(4):
        clock.advance(1)
        app = await svc.create_application(runtime, ACTOR, env, {"client_id": f"app{n}", **WEB})
        created.append(app.application.client_id)
    await svc.create_application(runtime, ACTOR, sandbox, {"client_id": "sandboxed", **WEB})

    pages = [await svc.list_applications(runtime, env, page=p, per_page=2) for p in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [5, 5, 5, 5]
    listed = [[a.client_id for a in p.data] for p in pages]
    # Oldest first: the default application, then in order of creation.
    assert listed == [["acme-production", "app0"], ["app1", "app2"], ["app3"], []]
    assert pages[0].data[0].is_default
    in_sandbox = await svc.list_applications(runtime, sandbox, page=1, per_page=20)
    assert [a.client_id for a in in_sandbox.data] == ["acme-sandbox", "sandboxed"]
    assert in_sandbox.total == 2


async def test_an_application_is_reached_only_in_its_environment(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    sandbox = await sandbox_of(runtime)
    other = await new_environment(runtime, "globex")
    await svc.create_application(runtime, ACTOR, env, {"client_id": "web", **WEB})
    for elsewhere in (sandbox, other):
        with pytest.raises(NotFound):
            await svc.get_application(runtime, elsewhere, "web")
        with pytest.raises(NotFound):
            await svc.update_application(runtime, ACTOR, elsewhere, "web", {"name": "x"})
        with pytest.raises(NotFound):
            await svc.rotate_secret(runtime, ACTOR, elsewhere, "web")
        with pytest.raises(NotFound):
            await svc.delete_application(runtime, ACTOR, elsewhere, "web")
    assert (await svc.get_application(runtime, env, "web")).name == "web"


async def test_a_taken_client_id_is_a_conflict(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    other = await new_environment(runtime, "globex")
    await svc.create_application(runtime, ACTOR, env, {"client_id": "web", **WEB})
    # Client ids are unique across the server: the token endpoint finds a client by it alone.
    for where, client_id in [(env, "web"), (other, "web")]:
        with pytest.raises(Conflict) as taken:
            await svc.create_application(runtime, ACTOR, where, {"client_id": client_id, **WEB})
        assert taken.value.errors == [
            {"loc": ["body", "client_id"], "msg": "already taken", "type": "unique"}
        ]
    assert (await svc.list_applications(runtime, other, page=1, per_page=10)).total == 1


# -- secrets ---------------------------------------------------------------------------------


async def test_the_secret_is_shown_once_and_stored_as_a_hash(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    created = await svc.create_application(
        runtime, ACTOR, env, {"client_id": "api", "secret_required": True, **WEB}
    )
    secret = created.client_secret
    assert secret is not None
    assert re.fullmatch(r"tsc_[A-Za-z0-9_-]{43}", secret)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert created.application.client_secret_hash == digest
    assert created.application.has_secret
    async with runtime.db.transaction() as tx:
        row = (
            await tx.execute(select(applications).where(applications.c.client_id == "api"))
        ).one()
    assert secret not in repr(tuple(row))
    assert row.client_secret_hash == digest
    assert (await svc.authenticate_client(runtime, "api", secret)).client_id == "api"


async def test_rotation_replaces_the_secret(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    old = await svc.create_application(
        runtime, ACTOR, env, {"client_id": "api", "secret_required": True, **WEB}
    )
    assert old.client_secret is not None
    clock.advance(10)
    rotated = await svc.rotate_secret(runtime, ACTOR, env, "api")
    assert rotated.client_secret is not None
    assert rotated.client_secret != old.client_secret
    assert rotated.application.updated_at == clock.now()
    with pytest.raises(Unauthorized):
        await svc.authenticate_client(runtime, "api", old.client_secret)
    assert (await svc.authenticate_client(runtime, "api", rotated.client_secret)).client_id == "api"


async def test_unknown_client_and_wrong_secret_are_answered_alike(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    created = await svc.create_application(
        runtime, ACTOR, env, {"client_id": "api", "secret_required": True, **WEB}
    )
    await svc.create_application(runtime, ACTOR, env, {"client_id": "public", **WEB})
    secret = created.client_secret
    assert secret is not None
    refusals = []
    for client_id, given in [
        ("api", secret[:-1] + ("A" if secret[-1] != "A" else "B")),
        ("api", ""),
        ("api", secret + " "),
        ("api", hashlib.sha256(secret.encode()).hexdigest()),
        ("nope", secret),
        ("public", secret),
        ("public", ""),
        ("acme-production", "tsc_none"),
        ("API", secret),
        ("api\x00", secret),
        ("a" * 500, secret),
        ("api", "\ud800"),
    ]:
        with pytest.raises(Unauthorized) as refused:
            await svc.authenticate_client(runtime, client_id, given)
        refusals.append((refused.value.msgid, refused.value.errors, refused.value.params))
    assert len(set(map(repr, refusals))) == 1


async def test_a_public_client_has_no_secret_to_rotate(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    await svc.create_application(runtime, ACTOR, env, {"client_id": "spa", **WEB})
    for client_id in ("spa", "acme-production"):
        with pytest.raises(Conflict) as public:
            await svc.rotate_secret(runtime, ACTOR, env, client_id)
        assert public.value.msgid == svc.PUBLIC_APPLICATION
    with pytest.raises(NotFound):
        await svc.rotate_secret(runtime, ACTOR, env, "nope")


async def test_secret_required_off_forgets_the_secret_and_on_needs_a_rotation(
    runtime: Runtime,
) -> None:
    env = await new_environment(runtime)
    created = await svc.create_application(
        runtime, ACTOR, env, {"client_id": "api", "secret_required": True, **WEB}
    )
    assert created.client_secret is not None
    public = await svc.update_application(runtime, ACTOR, env, "api", {"secret_required": False})
    assert (public.secret_required, public.has_secret) == (False, False)
    with pytest.raises(Unauthorized):
        await svc.authenticate_client(runtime, "api", created.client_secret)
    # Confidential again: no secret until one is issued, and not the forgotten one.
    again = await svc.update_application(runtime, ACTOR, env, "api", {"secret_required": True})
    assert (again.secret_required, again.has_secret) == (True, False)
    with pytest.raises(Unauthorized):
        await svc.authenticate_client(runtime, "api", created.client_secret)
    fresh = await svc.rotate_secret(runtime, ACTOR, env, "api")
    assert fresh.client_secret is not None
    assert (await svc.authenticate_client(runtime, "api", fresh.client_secret)).has_secret


# -- update (PATCH) --------------------------------------------------------------------------


async def test_patch_changes_only_what_it_names(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    before = (
        await svc.create_application(
            runtime,
            ACTOR,
            env,
            {"client_id": "web", "totp_override": {"digits": 8}, "secret_required": True, **WEB},
        )
    ).application
    clock.advance(5)
    after = await svc.update_application(
        runtime,
        ACTOR,
        env,
        "web",
        {"name": "Web", "token_format": "opaque", "redirect_uris": ["https://new.example.test/"]},
    )
    assert (after.name, after.token_format, after.redirect_uris) == (
        "Web",
        "opaque",
        ("https://new.example.test/",),
    )
    assert after.updated_at == clock.now()
    assert after.created_at == before.created_at
    unchanged = ("grant_types", "secret_required", "client_secret_hash", "totp_override")
    assert [getattr(after, f) for f in unchanged] == [getattr(before, f) for f in unchanged]
    assert await svc.get_application(runtime, env, "web") == after

    replaced = await svc.update_application(
        runtime, ACTOR, env, "web", {"totp_override": {"algorithm": "SHA256"}}
    )
    assert replaced.totp_override == {"algorithm": "SHA256"}
    cleared = await svc.update_application(runtime, ACTOR, env, "web", {"totp_override": None})
    assert cleared.totp_override is None
    emptied = await svc.update_application(runtime, ACTOR, env, "web", {"totp_override": {}})
    assert emptied.totp_override is None
    same = await svc.update_application(runtime, ACTOR, env, "web", {})
    assert same == emptied


BAD_PATCHES: list[tuple[dict[str, Any], str]] = [
    ({"client_id": "renamed"}, "client_id"),
    ({"is_default": True}, "is_default"),
    ({"client_secret_hash": "0" * 64}, "client_secret_hash"),
    ({"name": None}, "name"),
    ({"redirect_uris": None}, "redirect_uris"),
    ({"grant_types": None}, "grant_types"),
    ({"refresh_token": None}, "refresh_token"),
    ({"redirect_uris": []}, "redirect_uris"),
    ({"refresh_token": False}, "grant_types"),
    ({"grant_types": ["client_credentials"]}, "grant_types"),
    ({"access_token_expiration": 0}, "access_token_expiration"),
]


async def test_a_bad_patch_changes_nothing(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    before = (
        await svc.create_application(runtime, ACTOR, env, {"client_id": "web", **WEB})
    ).application
    for patch, field in BAD_PATCHES:
        with pytest.raises(ValidationFailed) as refused:
            await svc.update_application(runtime, ACTOR, env, "web", patch)
        assert field in [error["loc"][1] for error in refused.value.errors], (patch, refused)
    assert await svc.get_application(runtime, env, "web") == before


async def test_the_default_application_can_be_changed(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    # Its code flow ends on this server's hosted pages: it needs no redirect URI of its own.
    default = await svc.get_application(runtime, env, "acme-production")
    assert default.redirect_uris == ()
    changed = await svc.update_application(
        runtime, ACTOR, env, "acme-production", {"totp_override": {"period": 60}, "name": "Main"}
    )
    assert (changed.totp_override, changed.name, changed.is_default) == (
        {"period": 60},
        "Main",
        True,
    )


# -- validation ------------------------------------------------------------------------------

LONG_URI = "https://example.test/" + "a" * (2001 - len("https://example.test/"))
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"client_id": "ab"}, "client_id"),
    ({"client_id": "a" * 65}, "client_id"),
    ({"client_id": "Web"}, "client_id"),
    ({"client_id": "-web"}, "client_id"),
    ({"client_id": "web app"}, "client_id"),
    ({"client_id": "web/app"}, "client_id"),
    ({"client_id": "web\x00"}, "client_id"),
    ({"client_id": 12345}, "client_id"),
    ({"client_id": "globex-production"}, "client_id"),
    ({"client_id": "globex-sandbox"}, "client_id"),
    ({"name": ""}, "name"),
    ({"name": "a" * 201}, "name"),
    ({"name": "tab\there"}, "name"),
    ({"redirect_uris": ["http://app.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["http://localhost.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["http://127.0.0.2/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test/cb#top"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test/cb#"]}, "redirect_uris"),
    ({"redirect_uris": ["https://*.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test/*"]}, "redirect_uris"),
    ({"redirect_uris": ["/callback"]}, "redirect_uris"),
    ({"redirect_uris": ["app.example.test/callback"]}, "redirect_uris"),
    ({"redirect_uris": ["https:///callback"]}, "redirect_uris"),
    ({"redirect_uris": ["ftp://app.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris"),
    ({"redirect_uris": ["com.example.app:/callback"]}, "redirect_uris"),
    ({"redirect_uris": ["https://user:pw@app.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test:99999/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://[::1/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test/c b"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test/\ncb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test\\@evil.test/"]}, "redirect_uris"),
    ({"redirect_uris": ["https://exämple.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": [""]}, "redirect_uris"),
    ({"redirect_uris": [LONG_URI]}, "redirect_uris"),
    ({"redirect_uris": [f"https://e{n}.example.test/" for n in range(21)]}, "redirect_uris"),
    ({"redirect_uris": ["https://a.example.test/", "https://a.example.test/"]}, "redirect_uris"),
    ({"redirect_uris": "https://app.example.test/cb"}, "redirect_uris"),
    ({"redirect_uris": []}, "redirect_uris"),
    ({"grant_types": []}, "grant_types"),
    ({"grant_types": ["implicit"]}, "grant_types"),
    ({"grant_types": ["password"]}, "grant_types"),
    ({"grant_types": ["authorization_code", "authorization_code"]}, "grant_types"),
    ({"grant_types": ["client_credentials"]}, "grant_types"),
    ({"grant_types": ["refresh_token"], "secret_required": True}, "grant_types"),
    ({"refresh_token": False}, "grant_types"),
    ({"secret_required": "yes"}, "secret_required"),
    ({"secret_required": 1}, "secret_required"),
    ({"access_token_expiration": 59}, "access_token_expiration"),
    ({"access_token_expiration": 86_401}, "access_token_expiration"),
    ({"access_token_expiration": "3600"}, "access_token_expiration"),
    ({"access_token_expiration": 3600.5}, "access_token_expiration"),
    ({"token_format": "JWT"}, "token_format"),
    ({"token_format": "paseto"}, "token_format"),
    ({"refresh_token": "true"}, "refresh_token"),
    ({"first_party": None}, "first_party"),
    ({"totp_override": {"digits": 9}}, "totp_override"),
    ({"totp_override": {"digits": "8"}}, "totp_override"),
    ({"totp_override": {"period": 10}}, "totp_override"),
    ({"totp_override": {"algorithm": "MD5"}}, "totp_override"),
    ({"totp_override": {"issuer": "Evil"}}, "totp_override"),
    ({"totp_override": "SHA256"}, "totp_override"),
    ({"is_default": True}, "is_default"),
    ({"client_secret": "tsc_mine"}, "client_secret"),
]


async def test_invalid_settings_are_refused_naming_the_field(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    wrong = []
    for values, field in INVALID:
        try:
            await svc.create_application(runtime, ACTOR, env, {**WEB, **values})
        except ValidationFailed as refused:
            errors = refused.errors
            named = [e["loc"][1] for e in errors if e["loc"][0] == "body" and e["msg"]]
            if field not in named:
                wrong.append((values, errors))
        else:
            wrong.append((values, "accepted"))
    assert wrong == []
    assert (await svc.list_applications(runtime, env, page=1, per_page=10)).total == 1


async def test_the_rules_between_fields_say_what_is_missing(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    with pytest.raises(ValidationFailed) as refused:
        await svc.create_application(
            runtime,
            ACTOR,
            env,
            {"grant_types": ["client_credentials", "refresh_token"], "refresh_token": False},
        )
    assert sorted((e["loc"][1], e["type"]) for e in refused.value.errors) == [
        ("grant_types", "grant_needs_authorization_code"),
        ("grant_types", "grant_needs_refresh_token"),
        ("grant_types", "grant_needs_secret"),
    ]
    with pytest.raises(ValidationFailed) as no_redirect:
        await svc.create_application(runtime, ACTOR, env, {})
    assert no_redirect.value.errors == [
        {
            "loc": ["body", "redirect_uris"],
            "msg": "the authorization_code grant needs at least one redirect URI",
            "type": "missing",
        }
    ]


VALID: list[dict[str, Any]] = [
    {"redirect_uris": ["http://localhost/cb", "http://127.0.0.1:8765/cb"]},
    {"redirect_uris": ["http://[::1]:9000/callback", "https://x.example.test/a?b=c&d=%20"]},
    {"redirect_uris": ["HTTPS://App.Example.TEST/CB"]},
    {"redirect_uris": [f"https://e{n}.example.test/" for n in range(20)]},
    {"redirect_uris": ["https://example.test/" + "a" * (2000 - len("https://example.test/"))]},
    {"grant_types": ["client_credentials"], "secret_required": True},
    {"grant_types": ["authorization_code"], "refresh_token": False, **WEB},
    {"grant_types": ["authorization_code"], "refresh_token": True, **WEB},
    {"access_token_expiration": 86_400, "token_format": "opaque", **WEB},
    {"totp_override": {"algorithm": "SHA256", "digits": 8, "period": 60}, **WEB},
]


async def test_valid_settings_are_taken(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    for values in VALID:
        created = (await svc.create_application(runtime, ACTOR, env, values)).application
        for name, value in values.items():
            stored = getattr(created, name)
            assert (list(stored) if isinstance(stored, tuple) else stored) == value, values


# -- delete ----------------------------------------------------------------------------------


async def test_the_default_application_cannot_be_deleted(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    with pytest.raises(Conflict) as refused:
        await svc.delete_application(runtime, ACTOR, env, "acme-production")
    assert refused.value.msgid == svc.DEFAULT_NOT_DELETABLE
    assert (await svc.get_application(runtime, env, "acme-production")).is_default
    with pytest.raises(NotFound):
        await svc.delete_application(runtime, ACTOR, env, "nope")


async def test_deleting_an_application_deletes_its_authenticators(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    app = (
        await svc.create_application(
            runtime,
            ACTOR,
            env,
            {"client_id": "mobile", "totp_override": {"digits": 8, "period": 60}, **WEB},
        )
    ).application
    user_id = await new_user(runtime, env, "ann@acme.test")
    for_app = await enroll(runtime, clock, env, user_id, client_id="mobile")
    assert (for_app.params.digits, for_app.params.period) == (8, 60)
    by_default = await enroll(runtime, clock, env, user_id)
    assert (by_default.params.digits, by_default.params.period) == (6, 30)
    mobile_session = await issue_session(
        runtime, ACTOR, env, user_id=user_id, client_id="mobile", amr=["pwd"], auth_time=0
    )
    default_session = await issue_session(
        runtime, ACTOR, env, user_id=user_id, client_id="acme-production", amr=["pwd"], auth_time=0
    )
    of_app = authenticators.c.application_id == app.id
    assert await count(runtime, authenticators, of_app) == 1
    assert await count(runtime, recovery_codes) == 10

    await svc.delete_application(runtime, ACTOR, env, "mobile")

    assert await count(runtime, authenticators, of_app) == 0
    assert await count(runtime, authenticators) == 1
    assert await count(runtime, recovery_codes) == 5
    with pytest.raises(NotFound):
        await svc.get_application(runtime, env, "mobile")
    with pytest.raises(NotFound):
        await get_user(runtime, env, user_id, "mobile")
    kept = (await get_user(runtime, env, user_id)).two_factor
    assert (kept.enabled, kept.recovery_codes_remaining) == (True, 5)
    with pytest.raises(NotAuthenticated):
        await read_session(runtime, mobile_session.token)
    assert (await read_session(runtime, default_session.token)).client_id == "acme-production"
    # The client id is free again; the new application starts without authenticators.
    await svc.create_application(runtime, ACTOR, env, {"client_id": "mobile", **WEB})
    assert (await get_user(runtime, env, user_id, "mobile")).two_factor.enabled is False


# -- the audit trail -------------------------------------------------------------------------


async def test_every_change_is_audited_without_the_secret(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    created = await svc.create_application(
        runtime, ACTOR, env, {"client_id": "api", "secret_required": True, **WEB}
    )
    await svc.update_application(runtime, ACTOR, env, "api", {"name": "API", "first_party": False})
    rotated = await svc.rotate_secret(runtime, ACTOR, env, "api")
    await svc.delete_application(runtime, ACTOR, env, "api")
    events = await list_audit(runtime, env, user_id=None, limit=10)
    actions = [(e.action, e.outcome, e.actor, e.ip, e.details) for e in reversed(events)]
    assert actions[-4:] == [
        ("application.create", "ok", "test", "192.0.2.1", {"client_id": "api"}),
        (
            "application.update",
            "ok",
            "test",
            "192.0.2.1",
            {"client_id": "api", "fields": ["first_party", "name"]},
        ),
        ("application.secret.rotate", "ok", "test", "192.0.2.1", {"client_id": "api"}),
        ("application.delete", "ok", "test", "192.0.2.1", {"client_id": "api"}),
    ]
    dumped = repr(events)
    for secret in (created.client_secret, rotated.client_secret):
        assert secret is not None
        assert secret not in dumped
        assert hashlib.sha256(secret.encode()).hexdigest() not in dumped
