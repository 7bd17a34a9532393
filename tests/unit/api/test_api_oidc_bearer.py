"""The API accepts JWT bearers of the configured issuer (a real provider on loopback): the
person's groups become teams and a role; refused tokens get a 401 that says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from shipyard.settings import Settings
from shipyard.store import open_database, transaction
from shipyard.store.models import AuditRecord, User
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.oidc import OidcProvider, SigningKey, serve_oidc_provider
from shipyard.testing.samples import write_platform


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with serve_oidc_provider(audience="shipyard") as provider:
        yield provider


@pytest.fixture
def oidc_api(tmp_path: Path, provider: OidcProvider) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=url,
        platform=write_platform(tmp_path / "platform.yaml"),
        oidc_issuer=provider.issuer,
        oidc_audience="shipyard",
        oidc_role_map={"platform": "admin"},
    )
    database = open_database(url)
    try:
        with serve_api(settings, database) as api:
            yield api
    finally:
        database.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_jwt_of_the_issuer_is_a_person_with_the_role_of_their_groups(
    oidc_api: Api, provider: OidcProvider
) -> None:
    with oidc_api.anonymous() as client:
        viewer = provider.token("u-1", groups=["payments"], preferred_username="vic")
        assert client.get("/api/v1/components", headers=bearer(viewer)).status_code == 200
        assert_problem(client.get("/api/v1/audit", headers=bearer(viewer)), 403)

        admin = provider.token("u-2", groups=["platform"], email="ada@example.com")
        assert client.get("/api/v1/audit", headers=bearer(admin)).status_code == 200
        # Seen again: the same person, not a second row.
        assert client.get("/api/v1/audit", headers=bearer(admin)).status_code == 200

    with transaction(oidc_api.database) as session:
        people = {
            user.subject: user.name
            for user in session.scalars(select(User).where(User.subject.is_not(None)))
        }
    assert people == {f"{provider.issuer}#u-1": "vic", f"{provider.issuer}#u-2": "ada@example.com"}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.token(expires_in=-600), "it has expired"),
        (lambda p: p.token(audience="other"), "its audience is not 'shipyard'"),
        (lambda p: p.token(key=SigningKey.generate(kid=p.active.kid)), "signature"),
    ],
    ids=["expired", "audience", "wrong-key"],
)
def test_a_refused_jwt_gets_a_401_that_says_why(
    oidc_api: Api, provider: OidcProvider, make: object, reason: str
) -> None:
    token = make(provider)  # type: ignore[operator]
    with oidc_api.anonymous() as client:
        body = assert_problem(client.get("/api/v1/components", headers=bearer(token)), 401)
    assert reason in body["detail"]
    assert token not in body["detail"]


def test_a_refused_mutation_by_a_person_is_audited_under_their_subject(
    oidc_api: Api, provider: OidcProvider
) -> None:
    token = provider.token("u-9", groups=["payments"])
    with oidc_api.anonymous() as client:
        response = client.post("/api/v1/tokens", headers=bearer(token), json={"role": "viewer"})
        assert_problem(response, 403)
    with transaction(oidc_api.database) as session:
        record = session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
        assert record is not None
        assert (record.actor, record.result, record.actor_token_id) == (
            f"{provider.issuer}#u-9",
            "forbidden",
            None,
        )


def test_api_tokens_still_work_beside_oidc(oidc_api: Api) -> None:
    assert oidc_api.client.get("/api/v1/components").status_code == 200
