"""Web sessions and people known through OIDC, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from shipyard.clock import utc_now
from shipyard.store import transaction
from shipyard.store.auth import create_user, ensure_person, issue_token, revoke_token
from shipyard.store.enums import Role
from shipyard.store.models import User, WebSession
from shipyard.store.sessions import (
    end_session,
    end_session_of_cookie,
    find_live_session,
    hash_session_id,
    open_session,
)


def test_a_session_is_found_by_its_cookie_until_it_ends(database: Engine) -> None:
    with transaction(database) as session:
        user = create_user(session, "ana")
        opened = open_session(session, user, role=Role.deployer, teams=["group:default/a"] * 2)
        cookie, session_id = opened.cookie_value, opened.session.id
        assert opened.session.session_hash == hash_session_id(cookie) != cookie
    with transaction(database) as session:
        live = find_live_session(session, cookie)
        assert live is not None
        assert (live.user.name, live.session.role, live.session.teams) == (
            "ana",
            Role.deployer,
            ["group:default/a"],
        )
        assert find_live_session(session, cookie + "x") is None
        end_session(session, session_id)
    with transaction(database) as session:
        assert find_live_session(session, cookie) is None


def test_a_session_expires_and_never_outlives_its_token(database: Engine) -> None:
    now = utc_now()
    with transaction(database) as session:
        user = create_user(session, "ci")
        token = issue_token(session, user, "ci", expires_at=now + timedelta(hours=1)).token
        opened = open_session(session, user, role=Role.viewer, teams=[], token=token, now=now)
        assert opened.session.expires_at == token.expires_at
        cookie, token_id = opened.cookie_value, token.id
    with transaction(database) as session:
        assert find_live_session(session, cookie, now=now + timedelta(minutes=59)) is not None
        assert find_live_session(session, cookie, now=now + timedelta(hours=1)) is None
        revoke_token(session, token_id)
    with transaction(database) as session:
        assert find_live_session(session, cookie, now=now) is None


def test_a_new_sign_in_can_end_the_cookies_earlier_session(database: Engine) -> None:
    with transaction(database) as session:
        user = create_user(session, "bo")
        cookie = open_session(session, user, role=Role.viewer, teams=[]).cookie_value
        end_session_of_cookie(session, cookie)
        end_session_of_cookie(session, "unknown")
    with transaction(database) as session:
        assert session.scalars(select(WebSession.revoked_at)).one() is not None


def test_a_person_is_found_by_subject_and_never_takes_a_taken_name(database: Engine) -> None:
    issuer = "https://idp.example"
    with transaction(database) as session:
        create_user(session, "admin", is_admin=True)
        jane = ensure_person(session, f"{issuer}#1", "jane")
        impostor = ensure_person(session, f"{issuer}#2", "admin")
        assert (jane.name, impostor.name) == ("jane", f"{issuer}#2")
    with transaction(database) as session:
        again = ensure_person(session, f"{issuer}#1", "jane.renamed")
        assert again.name == "jane"
        assert len(session.scalars(select(User).where(User.subject.is_not(None))).all()) == 2
