"""DATABASE_URL: what platforms hand out works, and anything unusable is named in one line."""

from __future__ import annotations

import pytest

from app.config import Settings, SettingsError, load_settings, normalize_database_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:pw@db:5432/promo", "postgresql+psycopg2://u:pw@db:5432/promo"),
        ("postgresql://u:pw@db/promo", "postgresql+psycopg2://u:pw@db/promo"),
        ("postgresql+psycopg2://u@db/promo", "postgresql+psycopg2://u@db/promo"),
        ("PostgreSQL://u@db/promo", "postgresql+psycopg2://u@db/promo"),
        ("sqlite:////var/lib/promo.sqlite", "sqlite:////var/lib/promo.sqlite"),
        ("sqlite+pysqlite:///promo.sqlite", "sqlite+pysqlite:///promo.sqlite"),
    ],
)
def test_postgres_and_postgresql_urls_are_run_through_psycopg2(given: str, used: str) -> None:
    assert normalize_database_url(given) == used
    assert Settings(DATABASE_URL=given).resolved_database_url == used  # type: ignore[call-arg]


def test_a_platform_postgres_url_counts_as_postgresql() -> None:
    assert Settings(DATABASE_URL="postgres://u@db/promo").is_postgres  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("mysql://u:hunter2@db/promo", "scheme 'mysql'"),
        ("postgresql+psycopg://u:hunter2@db/promo", "driver 'psycopg'"),
        ("postgresql+asyncpg://u:hunter2@db/promo", "driver 'asyncpg'"),
        ("hunter2", "not a database URL"),
        ("://u:hunter2@db/promo", "not a database URL"),
        ("postgresql://u:hunter2@db:fivefourthreetwo/promo", "port"),
    ],
)
def test_an_unusable_url_is_refused_with_its_reason_and_without_its_password(given: str, named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        normalize_database_url(given)
    assert "hunter2" not in str(raised.value)


def test_loading_settings_reports_an_unusable_url_in_one_line_without_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u:hunter2@db/promo")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("DATABASE_URL ") and "mysql" in message
    assert "\n" not in message and "hunter2" not in message
