"""One seeded app on its own PostgreSQL database for the whole hostile-input suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import migrated_engine, throwaway_postgres_database
from tests.support.hostile import HostileTarget, seed_target


@pytest.fixture(scope="package")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileTarget]:
    """Shared by every test of the package: the request count and the seeded rows carry across."""
    data_dir: Path = tmp_path_factory.mktemp("hostile")
    with throwaway_postgres_database("promobridge_hostile") as url:
        engine = migrated_engine(url)
        try:
            yield seed_target(engine, data_dir)
        finally:
            engine.dispose()
