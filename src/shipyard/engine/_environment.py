"""The explicit environment of every Pulumi CLI run, and the generated passphrase.

Why Shipyard builds the environment itself: ``LocalWorkspace`` hands its ``env_vars``
to ``PulumiCommand.run``, which starts the CLI with ``{**os.environ, **env_vars}``. So
``env_vars`` can add or override variables but never remove one: a stray
``PULUMI_ACCESS_TOKEN``, ``PULUMI_CONFIG_PASSPHRASE`` or ``PULUMI_BACKEND_URL`` in the
server's environment would reach the CLI and change where state goes or which secret
decrypts it. Shipyard's command runner (:mod:`shipyard.engine._process`) therefore
starts the CLI with :func:`base_environment` (a short allow-list of the process
environment) plus the workspace's variables (:func:`pulumi_variables`), nothing else.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlparse

import structlog

from shipyard._files import ensure_private_dir, write_atomic

__all__ = ["base_environment", "ensure_passphrase_file", "pulumi_variables"]

_log = structlog.get_logger(__name__)

_ALWAYS = (
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_CLOUD_PREFIXES = {
    "gs": ("GOOGLE_", "CLOUDSDK_"),
    "gcpkms": ("GOOGLE_", "CLOUDSDK_"),
    "s3": ("AWS_",),
    "awskms": ("AWS_",),
    "azblob": ("AZURE_",),
    "azurekeyvault": ("AZURE_",),
    "hashivault": ("VAULT_",),
    "postgres": ("PG",),
}
_SHARED_PASSPHRASE = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
"""Taken from this process only when the secrets provider is set to ``passphrase``
explicitly: the passphrase every host of a cluster shares (its stacks' secrets must
decrypt on any of them), instead of one generated into this host's data dir."""
_PASSPHRASE_MODE = 0o600
_POSTGRES_GOMAXPROCS = 16
"""Pulumi's ``postgres://`` backend (v3.274.1) pools ``2 x GOMAXPROCS`` connections and
reads stacks concurrently: with 2 cores (4 connections) ``pulumi stack ls`` of 8 stacks
never returns; 16 (32 connections) lists 40 stacks in under a second."""


def base_environment(backend_url: str, secrets_provider: str | None) -> dict[str, str]:
    """The variables taken from this process: locale, proxies, and the credentials of the
    cloud the backend or secrets provider lives in (none for ``file://`` + passphrase):
    ``PG*`` (``PGPASSWORD``, ``PGPASSFILE``, ...) for a ``postgres://`` backend, and
    ``PULUMI_CONFIG_PASSPHRASE``/``_FILE`` when ``secrets_provider`` is ``passphrase``."""
    prefixes: tuple[str, ...] = ()
    for url in (backend_url, secrets_provider or ""):
        prefixes += _CLOUD_PREFIXES.get(urlparse(url).scheme, ())
    shared = _SHARED_PASSPHRASE if secrets_provider == "passphrase" else ()
    return {
        name: value
        for name, value in os.environ.items()
        if name in _ALWAYS or name in shared or (prefixes and name.startswith(prefixes))
    }


def pulumi_variables(
    *,
    pulumi_home: Path,
    backend_url: str,
    path_dirs: tuple[Path, ...],
    passphrase_file: Path | None,
) -> dict[str, str]:
    """The variables Shipyard sets for every run (passed as the workspace's ``env_vars``)."""
    inherited = os.environ.get("PATH", os.defpath)
    variables = {
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_BACKEND_URL": backend_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PATH": os.pathsep.join([*(str(d) for d in path_dirs), inherited]),
        "SHIPYARD_PYTHON": sys.executable,
    }
    if passphrase_file is not None:
        variables["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase_file)
    if urlparse(backend_url).scheme == "postgres":
        variables["GOMAXPROCS"] = str(max(_POSTGRES_GOMAXPROCS, os.cpu_count() or 1))
    return variables


def ensure_passphrase_file(data_dir: Path) -> Path:
    """``<data_dir>/pulumi-passphrase``: generated once (0600), never read or logged here.

    Creation is atomic (a hard link of a complete temporary file), so concurrent first
    runs agree on one passphrase.
    """
    path = data_dir / "pulumi-passphrase"
    if path.exists():
        _tighten(path)
        return path
    ensure_private_dir(data_dir)
    if write_atomic(path, secrets.token_urlsafe(32) + "\n", exclusive=True):
        _log.info("generated the Pulumi passphrase file", path=str(path))
    return path


def _tighten(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & ~_PASSPHRASE_MODE:
        path.chmod(_PASSPHRASE_MODE)
        _log.warning("tightened the passphrase file's mode", path=str(path), was=oct(mode))
