"""What a server does once at start: migrate, load the platform, create the admin token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from shipyard._files import ensure_private_dir, write_atomic
from shipyard.catalog import Platform, load_platform
from shipyard.services.platform import sync_environments
from shipyard.settings import Settings
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.audit import record_audit
from shipyard.store.auth import ensure_admin, rotate_admin

__all__ = [
    "ADMIN_TOKEN_FILE",
    "RotatedAdmin",
    "Startup",
    "bootstrap",
    "rotate_admin_token",
    "write_secret_file",
]

ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105  (a file name, not a secret)

_log = structlog.get_logger("shipyard.api")


@dataclass(frozen=True, slots=True)
class Startup:
    admin_token_file: Path
    admin_token_created: bool
    """True on the first start: the file was just written."""
    platform: Platform | None
    revision: str


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (0600), atomically."""
    write_atomic(path, secret + "\n")


def _ensure_admin_token(database: Engine, path: Path) -> bool:
    try:
        with transaction(database) as session:
            issued = ensure_admin(session)
            if issued is None:
                return False
            # Written before the commit: a failed write leaves no admin without a token file.
            write_secret_file(path, issued.secret)
            return True
    except IntegrityError:
        return False  # another replica created the admin at the same moment


def bootstrap(settings: Settings, database: Engine) -> Startup:
    ensure_private_dir(settings.data_dir)
    revision = upgrade(database)
    platform = load_platform(settings.platform) if settings.platform is not None else None
    if platform is not None:
        with transaction(database) as session:
            sync_environments(session, platform)
    token_file = settings.data_dir / ADMIN_TOKEN_FILE
    created = _ensure_admin_token(database, token_file)
    if created:
        _log.info("admin_token.created", path=str(token_file))
    elif not token_file.exists():
        _log.warning(
            "admin_token.elsewhere",
            hint="the admin exists already (another server created it): use its token file",
        )
    return Startup(token_file, created, platform, revision)


@dataclass(frozen=True, slots=True)
class RotatedAdmin:
    token_file: Path
    token_id: int


def rotate_admin_token(settings: Settings, *, actor: str) -> RotatedAdmin:
    """Give the admin a new token, written to ``<data-dir>/admin-token``; its previous
    tokens are revoked in the same transaction, which commits only once the file is
    written. ``actor`` (who ran it, e.g. ``local:alice``) goes in the audit record."""
    path = settings.data_dir / ADMIN_TOKEN_FILE
    database = open_database(settings)
    try:
        upgrade(database)
        with transaction(database) as session:
            issued = rotate_admin(session)
            record_audit(
                session,
                "token.rotate-admin",
                "token",
                issued.token.id,
                actor=actor,
                actor_user_id=issued.token.user_id,
                result="ok",
                data={"token_file": str(path)},
            )
            write_secret_file(path, issued.secret)
            token_id = issued.token.id
    finally:
        database.dispose()
    return RotatedAdmin(path, token_id)
