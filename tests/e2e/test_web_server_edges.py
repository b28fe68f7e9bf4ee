"""Real gunicorn (`promobridge web`): what it refuses itself is JSON, and its access log hides the token."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.observability import gunicorn_conf
from app.security import fresh_secrets_env
from benchmarks.stack import ProcessGroup, free_port, http_ready, wait_until
from tests.support.databases import migrated_engine, throwaway_postgres_database

SECRETS = fresh_secrets_env()  # strong, fresh secrets: the web refuses weak ones
TOKEN = SECRETS["LISTENER_TOKEN"]


@dataclass
class Web:
    """A running `promobridge web` and the file its output (access log included) goes to."""

    port: int
    log: Path

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        """Send `path` exactly as given (no normalisation of slashes or escapes) and read the answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()


@dataclass
class Answer:
    """What came back."""

    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """One gunicorn worker on a throwaway database, logging to a file."""
    folder = tmp_path_factory.mktemp("web-edges")
    port = free_port()
    with throwaway_postgres_database("promobridge_edges") as database_url:
        migrated_engine(database_url).dispose()
        env = {
            **SECRETS,
            "DATABASE_URL": database_url,
            "PROMOBRIDGE_DATA_DIR": str(folder / "data"),
            "LOG_JSON": "true",
        }
        group = ProcessGroup(env, folder)
        try:
            group.start("web", ["web", "--port", str(port), "--workers", "1"])
            wait_until(http_ready(f"http://127.0.0.1:{port}/healthz"), timeout=30, what="the web process")
            yield Web(port, folder / "web.log")
        except BaseException:
            print(group.logs())
            raise
        finally:
            group.stop_all()


def _assert_json_error(answer: Answer, status: int, error: str) -> None:
    assert answer.status == status, answer.body[:300]
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"
    body = json.loads(answer.body)
    assert body["error"] == error and body["message"]


def test_a_request_line_over_gunicorns_limit_gets_a_json_414(web: Web) -> None:
    path = "/v1/claims/" + "x" * gunicorn_conf.limit_request_line
    _assert_json_error(web.request("GET", path), 414, "uri_too_long")


def test_a_header_field_over_gunicorns_limit_gets_a_json_431(web: Web) -> None:
    big = {"X-Padding": "y" * (gunicorn_conf.limit_request_field_size + 1)}
    _assert_json_error(web.request("GET", "/healthz", big), 431, "request_header_fields_too_large")


def test_too_many_header_fields_get_a_json_431(web: Web) -> None:
    many = {f"X-Field-{n}": "1" for n in range(gunicorn_conf.limit_request_fields + 1)}
    _assert_json_error(web.request("GET", "/healthz", many), 431, "request_header_fields_too_large")


def test_requests_gunicorn_passes_on_still_get_the_apps_answers(web: Web) -> None:
    assert web.request("GET", "/healthz").status == 200
    _assert_json_error(web.request("GET", "/v1/claims/" + "x" * 2000), 401, "unauthorized")


@pytest.mark.parametrize(
    "path",
    [
        f"/webhooks%2Foptimove%2F{TOKEN}",
        f"/webhooks%2foptimove%2ftriggered%2f{TOKEN}",
        f"//webhooks//optimove//{TOKEN}",
        f"/webhooks/optimove//triggered//{TOKEN}",
        f"/webhooks/optimove/{TOKEN}",
        f"/webhooks/optimove/triggered/{TOKEN}?retry=1",
    ],
)
def test_the_access_log_never_shows_the_listener_token(web: Web, path: str) -> None:
    marker = f"edge-{abs(hash(path))}"
    body = json.dumps({"EventTypeID": 4, "CampaignID": 77}).encode()
    answer = web.request("POST", path, {"Content-Type": "application/json", "User-Agent": marker}, body)
    assert answer.status < 500

    def access_line_written() -> bool:
        return marker in web.log.read_text(errors="replace")

    wait_until(access_line_written, timeout=10, what="the access log line")
    lines = [line for line in web.log.read_text(errors="replace").splitlines() if marker in line]
    assert lines and all("***" in line and TOKEN not in line for line in lines)


def test_no_line_of_the_log_shows_the_listener_token(web: Web) -> None:
    # Runs after the requests above (same module, file order): their error and access lines too.
    assert "***" in web.log.read_text(errors="replace")
    assert TOKEN not in web.log.read_text(errors="replace")
