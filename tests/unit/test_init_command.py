"""`promobridge init`: a .env with fresh secrets, only its owner can read, never printed."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from app.config import Settings
from app.envfile import FILL_IN_MARKER, OPERATOR_VALUES, fresh_deployment_secrets, render_env_file
from app.security import check_secrets

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("LISTENER_TOKEN", "FLOWER_BASIC_AUTH", "POSTGRES_PASSWORD", "DATABASE_URL", "CONSOLE_SECRET_KEY")


def _init(path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", "--path", str(path), *extra])
    return result.exit_code, result.output


def _values(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines() if not line.startswith("#"))
    return {name: value for name, separator, value in pairs if separator}


def test_init_writes_fresh_secrets_that_only_the_owner_can_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    code, output = _init(env)

    assert code == 0, output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = _values(env)
    assert all(values[name] for name in GENERATED)
    assert values["DATABASE_URL"] == (
        f"postgresql://promobridge:{values['POSTGRES_PASSWORD']}@127.0.0.1:5432/promobridge"
    )
    for name in GENERATED:
        assert values[name] not in output, f"{name} was printed"
    assert all(name in output for name in GENERATED) and "OPTIMOVE_API_KEY" in output


def test_after_init_only_the_optimove_key_is_left_for_the_operator(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    _init(env)
    settings = Settings(_env_file=env)  # type: ignore[call-arg]

    problems = check_secrets(settings, "worker")
    assert len(problems) == 1 and problems[0].startswith("OPTIMOVE_API_KEY is not set")
    flower = check_secrets(settings, "flower", flower_address="0.0.0.0")
    assert len(flower) == 1 and flower[0].startswith("OPTIMOVE_API_KEY")  # the password is strong
    assert settings.model_copy(update={"optimove_api_key": "the-tenant-key-4c1f"}).is_postgres


def test_init_keeps_the_example_settings_and_marks_what_to_fill_in(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    _init(env)
    text = env.read_text()

    assert "OPTIMOVE_RATE_LIMIT=50\n" in text and "LOG_JSON=true\n" in text
    for name in OPERATOR_VALUES:
        assert re.search(rf"^{re.escape(FILL_IN_MARKER)} .+\n{name}=", text, re.MULTILINE), name
    assert "OPTIMOVE_API_KEY=\n" in text


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("LISTENER_TOKEN=the-operators-own\n")

    code, output = _init(env)

    assert code == 1 and "--force" in output
    assert env.read_text() == "LISTENER_TOKEN=the-operators-own\n"


def test_force_replaces_the_file_and_every_secret_and_tightens_its_mode(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    _init(env)
    before = _values(env)
    env.chmod(0o644)

    code, output = _init(env, "--force")

    assert code == 0, output
    after = _values(env)
    assert all(after[name] != before[name] for name in GENERATED)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # no draft left behind


def test_without_a_template_the_file_still_holds_every_secret_and_what_to_fill_in() -> None:
    secrets = fresh_deployment_secrets()
    rendered = render_env_file(None, secrets)

    for name, value in secrets.items():
        assert f"\n{name}={value}\n" in rendered.text
    for name in OPERATOR_VALUES:
        assert f"\n{name}=\n" in rendered.text


def test_every_secret_docker_compose_requires_is_written_by_init_or_marked_to_fill_in(tmp_path: Path) -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    env = tmp_path / ".env"
    _init(env)
    values = _values(env)

    assert required, "docker-compose.yml requires no variable"
    for name in required:
        assert values.get(name) or name in OPERATOR_VALUES, name
