"""A fake of the Cloud Build API's REST surface, on 127.0.0.1 (no Google Cloud is
reachable here). It speaks what ``CloudBuildClient(transport="rest")`` sends: ``POST
/v1/projects/P/locations/R/triggers/T:run`` answers a long-running Operation whose
metadata holds the Build; ``GET /v1/projects/P/locations/R/builds/ID`` walks the build
through ``statuses``, one per read, the last one sticking. ``POST /token`` stands in for
Google's OAuth token endpoint, for Application Default Credentials written by
:func:`write_adc` (a service account key whose ``token_uri`` points here)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_RUN = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/triggers/([^/:]+):run$")
_GET = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/builds/([^/]+)$")
DIGEST = "sha256:" + "ab" * 32
TOKEN = "fake-access-token"


@dataclass
class FakeCloudBuild:
    triggers: set[str]
    """Trigger ids or names that exist (``projects/P/locations/R/triggers/<this>``)."""
    statuses: list[str] = field(default_factory=lambda: ["QUEUED", "WORKING", "SUCCESS"])
    status_detail: str = ""
    image: str = "europe-west1-docker.pkg.dev/acme-prod/orders-api-prod/orders-api"
    runs: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    """The ``Authorization`` header of every API request (not the token requests)."""
    reads: int = 0
    endpoint: str = ""
    _builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _build(
        self, build_id: str, project: str, region: str, tag: str, step: int
    ) -> dict[str, Any]:
        status = self.statuses[min(step, len(self.statuses) - 1)]
        build: dict[str, Any] = {
            "id": build_id,
            "projectId": project,
            "status": status,
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={region}/"
            f"{build_id}?project={project}",
            "substitutions": {"TAG_NAME": tag},
        }
        if status == "SUCCESS":
            build["results"] = {"images": [{"name": f"{self.image}:{tag}", "digest": DIGEST}]}
        elif status in {"FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED"}:
            build["statusDetail"] = self.status_detail
        return build

    def run(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = _RUN.match(path)
        if match is None:
            return 404, _error(404, f"no route {path}")
        project, region, trigger = match.groups()
        if trigger not in self.triggers:
            return 404, _error(404, f"trigger {trigger} not found in {project}/{region}")
        with self._lock:
            self.runs.append({"path": path, "body": body})
            build_id = f"build-{len(self.runs)}"
            tag = body.get("source", {}).get("tagName", "")
            self._builds[build_id] = {"project": project, "region": region, "tag": tag, "step": 0}
        build = self._build(build_id, project, region, tag, 0)
        metadata = {
            "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
            "build": build,
        }
        return 200, {
            "name": f"projects/{project}/locations/{region}/operations/op-{build_id}",
            "metadata": metadata,
        }

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        match = _GET.match(path)
        if match is None or match.group(3) not in self._builds:
            return 404, _error(404, f"no build at {path}")
        with self._lock:
            self.reads += 1
            state = self._builds[match.group(3)]
            state["step"] += 1
        return 200, self._build(
            match.group(3), state["project"], state["region"], state["tag"], state["step"]
        )


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": "NOT_FOUND"}}


def _handler(fake: FakeCloudBuild) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/token":  # form-encoded refresh-token grant
                self._answer(200, {"access_token": TOKEN, "expires_in": 3600})
                return
            fake.authorizations.append(self.headers.get("Authorization", ""))
            self._answer(*fake.run(self.path.partition("?")[0], json.loads(raw or b"{}")))

        def do_GET(self) -> None:
            fake.authorizations.append(self.headers.get("Authorization", ""))
            self._answer(*fake.get(self.path.partition("?")[0]))

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def serve(fake: FakeCloudBuild) -> Iterator[FakeCloudBuild]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_adc(path: Path, fake: FakeCloudBuild) -> Path:
    """Application Default Credentials (for ``GOOGLE_APPLICATION_CREDENTIALS``): a service
    account key made up here, its ``token_uri`` on ``fake``: the real ADC code path, and
    no call leaves 127.0.0.1."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "acme-platform",
        "private_key_id": "fake-key",
        "private_key": pem,
        "client_email": "shipyard@acme-platform.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{fake.endpoint}/token",
    }
    path.write_text(json.dumps(info))
    return path
