"""A job process's warm-up (``prepare_job_process``) reads the newest deployment's records
and resolves its desired state, writing nothing; the platform file is parsed again only
when its content changed (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from shipyard.catalog import CatalogError, load_components, load_platform
from shipyard.services.components import register
from shipyard.services.deployments import request_deployment
from shipyard.services.desired import platform_of
from shipyard.services.handlers import prepare_job_process
from shipyard.services.platform import sync_environments
from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.testing.samples import PLATFORM_YAML, write_component, write_platform


def _everything(database: Engine) -> dict[str, list[Any]]:
    with database.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(sa.select(table))]
            for table in models.Base.metadata.sorted_tables
        }


def _settings(tmp_path: Path, platform: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", platform=platform)


def test_the_warm_up_reads_the_newest_deployment_and_writes_nothing(
    database: Engine, tmp_path: Path
) -> None:
    platform_file = write_platform(tmp_path / "platform.yaml")
    settings = _settings(tmp_path, platform_file)
    prepare_job_process(settings, database)  # no deployment yet: nothing to warm

    catalog = write_component(tmp_path / "orders-api", "orders-api")
    with transaction(database) as session:
        sync_environments(session, load_platform(platform_file))
        register(session, load_components(catalog), str(catalog.parent), platform_of(settings))
        request_deployment(session, "default", "orders-api", environment="dev", tag="v1.0.0")
    before = _everything(database)

    prepare_job_process(settings, database)

    assert _everything(database) == before

    # Records that no longer resolve (the platform lost the environment) end it quietly.
    platform_file.write_text(PLATFORM_YAML.replace("name: dev", "name: qa"))
    prepare_job_process(settings, database)
    assert _everything(database) == before


def test_the_platform_file_is_parsed_again_only_when_its_content_changed(
    tmp_path: Path,
) -> None:
    platform_file = write_platform(tmp_path / "platform.yaml")
    settings = _settings(tmp_path, platform_file)

    first = platform_of(settings)
    assert platform_of(settings) is first
    assert [env.name for env in first.environments] == ["dev", "staging"]

    platform_file.write_text(PLATFORM_YAML.replace("name: staging", "name: prod"))
    edited = platform_of(settings)
    assert [env.name for env in edited.environments] == ["dev", "prod"]

    platform_file.write_text("environments: [")
    with pytest.raises(CatalogError):
        platform_of(settings)  # a broken edit is reported, never hidden by the last good one
