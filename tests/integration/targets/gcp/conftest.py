"""Fixtures of the gcp flow tests (see gcp_cloud.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from gcp_cloud import PLATFORM, SCORE, SLUG, Cloud, Resolver, _descriptor
from google.auth.credentials import AnonymousCredentials

from shipyard.catalog import DesiredState, load_components, load_platform, resolve
from shipyard.settings import Settings
from shipyard.targets.gcp import CloudBuild
from shipyard.targets.gcp.flow import GcpTarget
from shipyard.targets.gcp.reads import GoogleReads
from shipyard.testing.google_fake import FakeEngine, FakeGoogle, serve


@pytest.fixture
def desired(tmp_path: Path) -> Resolver:
    """``desired(env, annotations=SLUG, name=..., namespace=..., platform=...)``."""

    def make(
        environment: str,
        annotations: Mapping[str, str] = SLUG,
        *,
        name: str = "orders-api",
        namespace: str = "default",
        platform: str = PLATFORM,
        score: str | None = SCORE,
    ) -> DesiredState:
        (tmp_path / "platform.yaml").write_text(platform)
        folder = tmp_path / namespace / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "catalog-info.yaml").write_text(_descriptor(name, namespace, annotations))
        if score is not None:
            (folder / "score.yaml").write_text(score)
        (component,) = load_components(folder / "catalog-info.yaml")
        return resolve(component, environment, load_platform(tmp_path / "platform.yaml"))

    return make


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """Two new projects, no API enabled: what the program enables is what works."""
    google = FakeGoogle("acme-dev", "acme-prod")
    google.connect("acme-dev", "europe-west1")  # the platform team's 2nd-gen connection
    with serve(google):
        engine = FakeEngine(google)
        credentials = AnonymousCredentials()
        cloud_build = CloudBuild.connect(
            endpoint=google.endpoint, credentials=credentials, poll_interval_s=0.001
        )
        target = GcpTarget(
            Settings(data_dir=tmp_path / "data"),
            engine=engine,  # type: ignore[arg-type]
            cloud_build=cloud_build,
            reads=GoogleReads(credentials, endpoint=google.endpoint),
        )
        yield Cloud(google, engine, target)
