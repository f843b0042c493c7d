"""`twostep keys rotate --retire` never drops a key that live journey state is still sealed
under (the step last shown, recovery codes waiting to be shown): it keeps the key, says how many
journeys hold it and that they expire within TWOSTEP_JOURNEY_TTL_S, and retires it once they
are gone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_api_errors import enroll, totp_code
from tests.server import new_organization, running_server
from twostep.client import JourneyClient, Step, Success

PASSWORD = "correct horse battery staple"


def test_a_key_sealing_a_live_journey_is_not_retired(database_url: str, tmp_path: Path) -> None:
    with running_server(tmp_path / "node", database_url) as first:
        api = new_organization(first)[0]
        user, registration, _ = enroll(api, password=PASSWORD)
        client_id = f"{api.org}-production"
        with JourneyClient(first.base_url, client_id=client_id) as client:
            challenge = client.submit(
                client.start(), {"username": user["email"], "password": PASSWORD}
            )
        api.close()
        environment = dict(first.env)
        old_key = json.loads((first.data_dir / "secrets.json").read_text())["primary"]
        assert isinstance(challenge, Step)
        assert challenge.step_id == "TotpAuthentication"

        rotated = first.cli("keys", "rotate", "--retire")
    assert old_key not in rotated.stdout.partition("retired:")[2], rotated.stdout
    assert f"kept {old_key}" in rotated.stdout, rotated.stdout
    assert "1 live journey session" in rotated.stdout
    assert "TWOSTEP_JOURNEY_TTL_S" in rotated.stdout
    assert old_key in json.loads((tmp_path / "node" / "secrets.json").read_text())["keys"]

    # A server that starts now (a restart, another node) still reads the journey's state.
    with (
        running_server(tmp_path / "node", env=environment) as second,
        JourneyClient(second.base_url, client_id=client_id) as client,
    ):
        done = client.submit(challenge, {"code": totp_code(registration, 1)})
        assert isinstance(done, Success), done
        # The journey is over: nothing live is sealed under the old key any more.
        again = second.cli("keys", "rotate", "--retire")
    assert old_key in again.stdout.partition("retired:")[2], again.stdout
    assert old_key not in json.loads((tmp_path / "node" / "secrets.json").read_text())["keys"]
