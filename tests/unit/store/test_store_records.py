"""Events, audit records, users, teams and tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from shipyard.clock import utc_now
from shipyard.jobs import JobKind, enqueue
from shipyard.store import AlreadyExistsError, NotFoundError, transaction
from shipyard.store.audit import list_audit_records, record_audit
from shipyard.store.auth import (
    LAST_USED_RESOLUTION,
    add_team_member,
    authenticate,
    create_team,
    create_user,
    ensure_admin,
    hash_token,
    issue_token,
    revoke_token,
)
from shipyard.store.events import append_event, list_events
from shipyard.store.models import ApiToken, TeamMembership


def test_event_numbers_grow_by_one_per_job(database: Engine) -> None:
    with transaction(database) as session:
        first = enqueue(session, JobKind.deploy, "default/a/dev")
        second = enqueue(session, JobKind.deploy, "default/b/dev")
        for index in range(3):
            append_event(session, first.id, "log", f"line {index}")
        append_event(session, second.id, "log", "other", level="warning", data={"k": 1})

    with transaction(database, read_only=True) as session:
        assert [e.seq for e in list_events(session, first.id)] == [1, 2, 3]
        assert [e.message for e in list_events(session, first.id, after_seq=1)] == [
            "line 1",
            "line 2",
        ]
        (other,) = list_events(session, second.id)
        assert (other.seq, other.level, other.data) == (1, "warning", {"k": 1})


def test_events_of_a_missing_job_are_refused(database: Engine) -> None:
    with pytest.raises(NotFoundError), transaction(database) as session:
        append_event(session, 404, "log", "nobody")


def test_audit_records_are_listed_newest_first_per_subject(database: Engine) -> None:
    with transaction(database) as session:
        admin = create_user(session, "alice", is_admin=True)
        record_audit(
            session, "component.register", "component", "default/a", actor_user_id=admin.id
        )
        record_audit(
            session, "deployment.create", "deployment", 7, request_id="req-1", data={"tag": "v1"}
        )
        record_audit(session, "deployment.cancel", "deployment", 7)

        assert [
            r.action for r in list_audit_records(session, subject_type="deployment", subject_id=7)
        ] == [
            "deployment.cancel",
            "deployment.create",
        ]
        assert len(list_audit_records(session)) == 3


def test_tokens_are_stored_hashed_and_authenticate_until_revoked(database: Engine) -> None:
    with transaction(database) as session:
        user = create_user(session, "bob")
        issued = issue_token(session, user, "laptop")
        stored = session.scalars(select(ApiToken.token_hash)).all()

        assert issued.secret.startswith("shp_") and len(issued.secret) > 40
        assert stored == [hash_token(issued.secret)]
        assert issued.secret not in stored

        token = authenticate(session, issued.secret)
        assert token is not None and token.user_id == user.id and token.last_used_at
        assert authenticate(session, issued.secret + "x") is None

        revoke_token(session, issued.token.id)
        assert authenticate(session, issued.secret) is None


def test_a_token_use_is_recorded_at_most_once_per_resolution(database: Engine) -> None:
    start = utc_now()
    with transaction(database) as session:
        issued = issue_token(session, create_user(session, "dora"), "ci")
        token_id = issued.token.id
        authenticate(session, issued.secret, now=start)
        authenticate(session, issued.secret, now=start + timedelta(seconds=30))
    with transaction(database) as session:
        assert session.get_one(ApiToken, token_id).last_used_at == start
        later = start + LAST_USED_RESOLUTION
        authenticate(session, issued.secret, now=later)
    with transaction(database) as session:
        assert session.get_one(ApiToken, token_id).last_used_at == later


def test_expired_tokens_do_not_authenticate(database: Engine) -> None:
    with transaction(database) as session:
        user = create_user(session, "carol")
        issued = issue_token(session, user, "ci", expires_at=utc_now() + timedelta(hours=1))

        assert authenticate(session, issued.secret) is not None
        assert authenticate(session, issued.secret, now=utc_now() + timedelta(hours=2)) is None


def test_the_admin_token_is_created_once(database: Engine) -> None:
    with transaction(database) as session:
        issued = ensure_admin(session)
        assert issued is not None
        assert ensure_admin(session) is None
        token = authenticate(session, issued.secret)
        assert token is not None
        with pytest.raises(AlreadyExistsError):
            create_user(session, "admin")


def test_team_membership_is_one_row_per_user_and_team(database: Engine) -> None:
    with transaction(database) as session:
        team = create_team(session, "team-orders")
        user = create_user(session, "dave")
        add_team_member(session, team, user)
        add_team_member(session, team, user, role="owner")

        (membership,) = session.scalars(select(TeamMembership)).all()
        assert membership.role == "owner"
