"""Short-lived values a browser carries and gives back unchanged: HMAC-signed, timed.

The key lives in ``<data-dir>/web-cookie-key`` (0600), made on first use, so every API
process of one data dir (and a restart in the middle of a sign-in) reads the same one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError

__all__ = ["COOKIE_KEY_FILE", "Signer"]

COOKIE_KEY_FILE = "web-cookie-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs small JSON objects with an expiry; :meth:`unsign` returns ``None`` for any
    value it did not sign, that was altered, is of another purpose, or has expired."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / COOKIE_KEY_FILE
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = _read_or_create_key(self._path)
            return self._key

    def sign(self, purpose: str, value: dict[str, Any], *, max_age: int) -> str:
        body = _b64(
            json.dumps({"p": purpose, "e": int(time.time()) + max_age, "v": value}).encode()
        )
        mac = hmac.new(self._secret(), body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def unsign(self, purpose: str, signed: str | None) -> dict[str, Any] | None:
        if not signed or len(signed) > 4096 or signed.count(".") != 1:
            return None
        body, mac = signed.split(".")
        expected = _b64(hmac.new(self._secret(), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("p") != purpose:
            return None
        if not isinstance(payload.get("e"), int) or payload["e"] < time.time():
            return None
        value = payload.get("v")
        return value if isinstance(value, dict) else None


def _read_or_create_key(path: Path) -> bytes:
    """The key in ``path``; made there if missing (written aside, then linked in: a
    process racing this one reads the complete key or makes none)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secrets.token_urlsafe(48) + "\n").encode())
        finally:
            os.close(fd)
        try:
            os.link(staging, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            staging.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ShipyardError(f"{path} holds no usable key: delete it and it is made anew")
    return key.encode()
