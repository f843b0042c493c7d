"""What an operator observes (issue 11, item 6): ``/metrics`` adds up every worker process,
HTTP latency histograms by route template, ``X-Request-Id`` in answers and log lines, and a
bearer token in front of ``/metrics``."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ENGINES
from tests.e2e.test_api_errors import assert_problem, enroll, wrong_code
from tests.pg import PostgresServer
from tests.server import Api, Server, new_organization, running_server

TOKEN = f"metrics-{secrets.token_urlsafe(24)}"
VERIFY = "/api/v1/org/{org}/users/{user_id}/totp/verify"
USERS, WRONG_EACH = 6, 4  # four wrong codes each: below the lockout, every one is evaluated


@pytest.fixture(scope="module", params=ENGINES)
def workers2(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``twostep serve`` with two worker processes and a metrics token."""
    database_url = None
    if request.param == "postgres":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        database_url = postgres.new_database()
    data_dir = tmp_path_factory.mktemp(f"workers2-{request.param}")
    with running_server(
        data_dir, database_url, TWOSTEP_WORKERS="2", TWOSTEP_METRICS_TOKEN=TOKEN
    ) as server:
        yield server


def scrape(server: Server, token: str | None = TOKEN) -> str:
    """One scrape on a new connection, so that any worker may answer it."""
    headers = {"Connection": "close"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.get(f"{server.base_url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the one series of ``name`` whose labels include ``labels`` (0 if none)."""
    found = 0.0
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)  # templates have braces
        if match is None or match[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
        if all(have.get(k) == v for k, v in labels.items()):
            found += float(match[3])
    return found


def worker_metric_dir(server: Server) -> Path:
    """The samples directory, as the worker processes of the server see it."""
    assert server.process is not None
    parent = str(server.process.pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except OSError:  # a process that ended meanwhile
            continue
        if fields[1] == parent:
            for entry in environ:
                if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                    return Path(entry.split(b"=", 1)[1].decode())
    raise AssertionError("no worker process with a metrics directory")


def verify_wrong_codes(server: Server) -> tuple[Api, list[dict[str, Any]]]:
    """``USERS`` enrolled users, each sent ``WRONG_EACH`` wrong codes, in parallel on new
    connections (so that both workers answer some)."""
    api = new_organization(server)[0]
    enrolled = [enroll(api) for _ in range(USERS)]

    def verify(user: dict[str, Any], registration: dict[str, Any]) -> int:
        response = httpx.post(
            f"{server.base_url}{api.user_path(user['id'], '/totp/verify')}",
            json={"code": wrong_code(registration)},
            headers={"Authorization": f"Bearer {api.key}", "Connection": "close"},
            timeout=30,
        )
        return response.status_code

    jobs = [(user, registration) for user, registration, _ in enrolled] * WRONG_EACH
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda job: verify(*job), jobs))
    assert statuses == [400] * len(jobs)
    return api, [user for user, _, _ in enrolled]


def _until_both_workers_answered(server: Server) -> set[str]:
    """Send health probes on new connections until both workers have counted one: which
    worker accepts a connection is the kernel's choice, and a fast one may take them all."""
    writers: set[str] = set()
    for _ in range(100):
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: httpx.get(f"{server.base_url}/healthz"), range(8)))
        writers = {p.stem.split("_")[-1] for p in worker_metric_dir(server).glob("counter_*.db")}
        if len(writers) == 2:
            break
    return writers


def test_every_scrape_counts_the_requests_of_every_worker(workers2: Server) -> None:
    checked = {"operation": "verify", "outcome": "invalid"}
    confirmed = {"operation": "confirm", "outcome": "accepted"}
    # Both workers answered (each keeps its own file): the sums below span processes.
    assert len(_until_both_workers_answered(workers2)) == 2
    before = scrape(workers2)
    verify_wrong_codes(workers2)[0].close()
    sent = USERS * WRONG_EACH
    for _ in range(6):
        text = scrape(workers2)
        for name, labels, grown in (
            ("twostep_totp_checks_total", checked, sent),
            ("twostep_totp_checks_total", confirmed, USERS),
            ("http_requests_total", {"handler": VERIFY, "method": "POST"}, sent),
        ):
            assert sample(text, name, **labels) - sample(before, name, **labels) == grown


def test_latency_histograms_are_by_route_template_never_by_raw_path(workers2: Server) -> None:
    before = sample(scrape(workers2), "http_request_duration_seconds_count", handler=VERIFY)
    api, users = verify_wrong_codes(workers2)
    user_id = users[0]["id"]
    # A trailing slash, and a path no route has: neither may become a label of its own.
    api.request("POST", api.user_path(user_id, "/totp/verify/"), json={"code": "000000"})
    api.request("GET", f"/no/such/{user_id}")
    api.close()
    text = scrape(workers2)
    buckets = [line for line in text.splitlines() if line.startswith("http_request_duration")]
    timed = sample(text, "http_request_duration_seconds_count", handler=VERIFY)
    assert timed - before == USERS * WRONG_EACH
    assert any(f'handler="{VERIFY}"' in line and 'le="0.1"' in line for line in buckets)
    assert sample(text, "http_request_duration_seconds_count", handler="none") >= 2
    http_lines = [line for line in text.splitlines() if line.startswith("http_")]
    for line in http_lines:
        assert user_id not in line, line
        assert (api.org or "") not in line, line
        handler = re.search(r'handler="([^"]*)"', line)
        assert handler is None or handler[1] == "none" or handler[1].startswith("/"), line
    assert 'handler="/metrics"' not in text  # scrapes are not requests worth timing


def test_metrics_token_is_required_when_set(workers2: Server) -> None:
    url = f"{workers2.base_url}/metrics"
    refused = [
        httpx.get(url),
        httpx.get(url, headers={"Authorization": f"Bearer {TOKEN[:-1]}"}),
        httpx.get(url, headers={"Authorization": f"Basic {TOKEN}"}),
        httpx.get(url, headers={"Authorization": TOKEN}),
    ]
    for response in refused:
        body = assert_problem(response, 401, "unauthorized")
        assert body["request_id"] == response.headers["x-request-id"]
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in response.text
        assert "twostep_totp_checks" not in response.text
    assert "# TYPE twostep_totp_checks_total counter" in scrape(workers2)
    french = httpx.get(url, headers={"Accept-Language": "fr"})
    assert assert_problem(french, 401, "unauthorized")["detail"] == (
        "Un jeton de métriques valide est requis."
    )


def logged(server: Server, request_id: str) -> list[dict[str, Any]]:
    """The log lines of one request; the last is written just after its answer, so wait."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in server.logs().splitlines() if line.startswith("{")]
        found = [e for e in map(json.loads, lines) if e.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_sane_request_id_is_echoed_and_logged(workers2: Server) -> None:
    api = new_organization(workers2)[0]
    for sent in ("abc-123", "Root=1-67891233-abcdef012345678912345678", "x" * 128):
        response = api.request(
            "GET", f"/api/v1/org/{api.org}/users", headers={"X-Request-Id": sent}
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == sent
        [entry] = logged(workers2, sent)
        assert entry["event"] == "http.request"
        assert (entry["method"], entry["status"]) == ("GET", 200)
    missing = api.request("GET", api.user_path("no-such-user"), headers={"X-Request-Id": "r-404"})
    body = assert_problem(missing, 404, "not_found")
    assert body["request_id"] == missing.headers["x-request-id"] == "r-404"
    assert {"type", "title", "status", "code", "detail", "instance"} <= set(body)
    api.close()


@pytest.mark.parametrize(
    "sent", [None, "", "has space", "x" * 129, "tab\there", "caf\u00e9", "semi;colon\u2028"]
)
def test_an_insane_or_missing_request_id_is_replaced(workers2: Server, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-Id": sent.encode("utf-8")}
    first = httpx.get(f"{workers2.base_url}/healthz", headers=headers)
    second = httpx.get(f"{workers2.base_url}/healthz", headers=headers)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    for made in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", made), made
        assert [entry["path"] for entry in logged(workers2, made)] == ["/healthz"]
    assert ids[0] != ids[1]
    assert not sent or sent not in workers2.logs()


def test_the_metrics_directory_lives_as_long_as_the_server(tmp_path: Path) -> None:
    with running_server(tmp_path, TWOSTEP_WORKERS="2") as server:
        directory = worker_metric_dir(server)
        assert directory.is_dir()
        assert "http_requests_total" in scrape(server, token=None)
    assert not directory.exists()


def test_one_worker_keeps_its_samples_in_memory(sqlite_server: Server) -> None:
    """One process needs no directory: the scrape also has the process collector's samples,
    which multiprocess mode leaves out, as it always had."""
    text = scrape(sqlite_server, token=None)
    assert "process_cpu_seconds_total" in text
    assert "http_request_duration_seconds_bucket" in text
