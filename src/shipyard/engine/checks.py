"""What ``shipyard doctor`` asks of Pulumi, with the engine's own environment.

- :func:`list_stacks`: ``pulumi stack ls --all --json`` on the state backend, which logs
  in to it exactly as every operation does (the same allow-listed environment and
  ``PULUMI_BACKEND_URL``), in a throwaway ``PULUMI_HOME`` and working directory: the check
  changes nothing and needs no passphrase.
- :func:`check_passphrase`: Shipyard's generated passphrase (``<data_dir>/pulumi-passphrase``)
  against the ``encryptionsalt`` of a stack it made: Pulumi stores there the word
  ``pulumi`` encrypted with the passphrase's key (PBKDF2-HMAC-SHA256, 1,000,000 rounds,
  AES-256-GCM), and refuses every operation of that stack with another passphrase. The
  CLI itself checks the passphrase only when it has a secret to decrypt, so a CLI run
  would pass a wrong one; the check decrypts that one value (0.3-0.5 s of CPU), as the
  CLI does, and reads nothing else.

Neither creates anything: not the state directory, not the passphrase file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shipyard.engine import _recovery
from shipyard.engine._environment import base_environment, pulumi_variables
from shipyard.engine.toolchain import PulumiCli
from shipyard.errors import ShipyardError
from shipyard.settings import Settings

__all__ = [
    "CheckFailedError",
    "PassphraseCheck",
    "check_passphrase",
    "file_backend_writable",
    "list_stacks",
]

_STACK_LS_TIMEOUT_S = 60.0
_PBKDF2_ROUNDS = 1_000_000
_PASSPHRASE_FILE = "pulumi-passphrase"  # noqa: S105  (a file name)


class CheckFailedError(ShipyardError):
    """A doctor's check of Pulumi failed; the message says what and how to fix it."""


def list_stacks(settings: Settings, cli: PulumiCli) -> list[str]:
    """The names of the stacks the state backend holds (``project/stack`` or as Pulumi
    names them). Raises :class:`CheckFailedError` with the CLI's own words when the
    backend cannot be opened (a missing or unwritable state directory, no credentials,
    a bucket that does not exist)."""
    backend = settings.state_backend_url
    with tempfile.TemporaryDirectory(prefix="shipyard-doctor-") as tmp:
        home = Path(tmp) / "pulumi-home"
        home.mkdir()
        env = {
            **base_environment(backend, settings.secrets_provider),
            **pulumi_variables(
                pulumi_home=home,
                backend_url=backend,
                path_dirs=(cli.bin_dir,),
                passphrase_file=None,
            ),
        }
        try:
            done = subprocess.run(
                [str(cli.path), "stack", "ls", "--all", "--json", "--non-interactive"],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=_STACK_LS_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CheckFailedError(
                f"`pulumi stack ls` on {backend} did not answer within "
                f"{_STACK_LS_TIMEOUT_S:g} s: check the backend's network and credentials"
            ) from exc
    if done.returncode != 0:
        said = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise CheckFailedError(f"`pulumi stack ls` on {backend} failed: {said}")
    try:
        listed = json.loads(done.stdout or "[]")
        return [str(entry["name"]) for entry in listed]
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckFailedError(
            f"`pulumi stack ls --json` on {backend} answered something that is not its "
            f"list of stacks: {done.stdout[:200]!r}"
        ) from exc


@dataclass(frozen=True, slots=True)
class PassphraseCheck:
    """What :func:`check_passphrase` found."""

    passphrase_file: Path
    exists: bool
    checked_against: Path | None
    """The stack settings file whose ``encryptionsalt`` the passphrase opened; None when
    Shipyard has made no stack yet (nothing to check against)."""


def check_passphrase(settings: Settings) -> PassphraseCheck:
    """Shipyard's passphrase file can be read and opens a stack Shipyard made, if any.

    Raises :class:`CheckFailedError` when the file cannot be read, is empty, or does not
    decrypt a stack's ``encryptionsalt`` (another passphrase made that stack: every
    operation on it would fail), or when stacks exist but the file is gone."""
    data_dir = settings.data_dir.expanduser().resolve()
    path = data_dir / _PASSPHRASE_FILE
    salted = _a_salted_stack(data_dir)
    if not path.exists():
        if salted is not None:
            raise CheckFailedError(
                f"{path} is missing, yet {salted} was encrypted with a passphrase: restore "
                "the file from a backup (a new passphrase cannot open the existing stacks)"
            )
        return PassphraseCheck(path, exists=False, checked_against=None)
    try:
        passphrase = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckFailedError(
            f"cannot read the passphrase file {path}: {exc}; make it readable by the user "
            "that runs Shipyard (mode 0600)"
        ) from exc
    if not passphrase:
        raise CheckFailedError(f"the passphrase file {path} is empty: restore it from a backup")
    if salted is None:
        return PassphraseCheck(path, exists=True, checked_against=None)
    salt = _encryption_salt(salted)
    if salt is not None and not _opens(passphrase, salt):
        raise CheckFailedError(
            f"the passphrase in {path} does not open {salted} (its encryptionsalt): that "
            "stack was made with another passphrase; restore the file that made it"
        )
    return PassphraseCheck(path, exists=True, checked_against=salted)


def _a_salted_stack(data_dir: Path) -> Path | None:
    """A stack settings file of the engine's work dirs that holds an ``encryptionsalt``."""
    stacks = data_dir / "stacks"
    if not stacks.is_dir():
        return None
    for settings_file in sorted(stacks.glob("*/*/Pulumi.*.yaml")):
        if _encryption_salt(settings_file) is not None:
            return settings_file
    return None


def _encryption_salt(settings_file: Path) -> str | None:
    try:
        lines = settings_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "encryptionsalt" and value.strip():
            return value.strip().strip("'\"")
    return None


def _opens(passphrase: str, salt_state: str) -> bool:
    """Pulumi's check: ``v1:<salt>:v1:<nonce>:<sealed>`` holds ``pulumi`` sealed with the
    key PBKDF2-HMAC-SHA256(passphrase, salt, 1,000,000 rounds, 32 bytes), AES-256-GCM."""
    parts = salt_state.split(":")
    if len(parts) != 5 or parts[0] != "v1" or parts[2] != "v1":
        raise CheckFailedError(
            f"an encryptionsalt of an unknown form ({parts[0]!r}...): this Shipyard cannot "
            "check it; run an operation on the stack to see whether the passphrase opens it"
        )
    try:
        salt, nonce, sealed = (base64.b64decode(parts[i], validate=True) for i in (1, 3, 4))
    except (binascii.Error, ValueError) as exc:
        raise CheckFailedError(f"an encryptionsalt that is not base64: {exc}") from exc
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, _PBKDF2_ROUNDS, 32)
    try:
        return AESGCM(key).decrypt(nonce, sealed, None) == b"pulumi"
    except InvalidTag:
        return False


def file_backend_writable(settings: Settings) -> tuple[Path, bool] | None:
    """The ``file://`` state directory and whether this user can write in it (a probe
    file written and removed; a missing directory: its nearest existing parent); None for
    another backend."""
    root = _recovery.file_backend_root(settings.state_backend_url)
    if root is None:
        return None
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".shipyard-doctor-"):
            pass
    except OSError:
        return root, False
    return root, os.access(probe, os.W_OK | os.X_OK)
