"""Find the Pulumi CLI Shipyard drives, or build the pinned version from its Go modules.

Resolution order: the ``SHIPYARD_PULUMI`` setting -> ``pulumi`` on PATH at least
:data:`MIN_VERSION` -> Shipyard's cache (``<cache>/pulumi/v<PINNED>/bin``) -> a build of
:data:`PINNED_VERSION` into that cache from the Go module shipped in ``pulumi_module/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from shipyard.errors import ShipyardError
from shipyard.settings import Settings

__all__ = [
    "DYNAMIC_PROVIDER_PLUGIN",
    "MIN_VERSION",
    "PINNED_VERSION",
    "PulumiBuildError",
    "PulumiCli",
    "PulumiNotFoundError",
    "build_pulumi",
    "ensure_pulumi",
    "find_pulumi",
    "write_dynamic_provider_plugin",
]

PINNED_VERSION = "3.274.1"
"""The Pulumi CLI Shipyard builds and tests against."""

MIN_VERSION = "3.272.0"
"""The oldest CLI accepted (from the setting, PATH or the cache): the Python SDK's version."""

DYNAMIC_PROVIDER_PLUGIN = "pulumi-resource-pulumi-python"

_BUILD_PACKAGE = "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
_VERSION_SYMBOL = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
_HEARTBEAT_SECONDS = 30.0
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")

Source = Literal["setting", "path", "cache", "built"]
Progress = Callable[[str], None]


class PulumiNotFoundError(ShipyardError):
    """No usable Pulumi CLI, and no way to build one."""


class PulumiBuildError(ShipyardError):
    """Building the pinned Pulumi CLI from its Go modules failed."""


@dataclass(frozen=True, slots=True)
class PulumiCli:
    """A usable Pulumi CLI binary."""

    path: Path
    version: str
    source: Source

    @property
    def bin_dir(self) -> Path:
        return self.path.parent


def _parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _probe_version(binary: Path) -> str | None:
    """``pulumi version`` of a binary, or None when it does not answer with one."""
    env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    try:
        done = subprocess.run(
            [str(binary), "version"],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parsed = _parse_version(done.stdout) if done.returncode == 0 else None
    return ".".join(map(str, parsed)) if parsed else None


def _signature(binary: Path) -> list[int] | None:
    try:
        found = binary.stat()
    except OSError:
        return None
    return [found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns]


def _probes_file(settings: Settings) -> Path:
    return settings.cache_dir / "pulumi" / "versions.json"


def _known_version(settings: Settings, binary: Path) -> str | None:
    """``pulumi version`` of ``binary``, remembered in the cache for as long as the file
    is the same (device, inode, size, mtime): a CLI run costs 0.1-0.2 s, and every job's
    process resolves the CLI again."""
    signature = _signature(binary)
    if signature is None:
        return None
    probes_file = _probes_file(settings)
    try:
        probes = json.loads(probes_file.read_text())
        known = probes[str(binary)]
        if known["signature"] == signature and isinstance(known["version"], str):
            return known["version"]
    except (OSError, ValueError, KeyError, TypeError):
        probes = None
    version = _probe_version(binary)
    if version is not None:
        _remember_version(probes_file, probes, str(binary), signature, version)
    return version


def _remember_version(
    probes_file: Path, probes: object, binary: str, signature: list[int], version: str
) -> None:
    known = dict(probes) if isinstance(probes, dict) else {}
    known[binary] = {"signature": signature, "version": version}
    try:
        probes_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=probes_file.parent, prefix=".versions-", delete=False
        ) as tmp:
            json.dump(known, tmp)
        Path(tmp.name).replace(probes_file)
    except OSError:
        pass  # a read-only cache only costs the probe next time


def _at_least(version: str, minimum: str) -> bool:
    have, need = _parse_version(version), _parse_version(minimum)
    return have is not None and need is not None and have >= need


def cache_bin_dir(settings: Settings, version: str = PINNED_VERSION) -> Path:
    return settings.cache_dir / "pulumi" / f"v{version}" / "bin"


def find_pulumi(settings: Settings) -> PulumiCli | None:
    """The CLI to use without building anything, or None.

    An explicit ``SHIPYARD_PULUMI`` that does not work is an error, not a fallback:
    the user asked for that binary.
    """
    if settings.pulumi is not None:
        explicit = settings.pulumi.expanduser().resolve()
        version = _known_version(settings, explicit)
        if version is None:
            raise PulumiNotFoundError(
                f"SHIPYARD_PULUMI={settings.pulumi} does not answer `pulumi version`: "
                "point it at a working Pulumi CLI binary, or unset it to let Shipyard find one"
            )
        if not _at_least(version, MIN_VERSION):
            raise PulumiNotFoundError(
                f"SHIPYARD_PULUMI={settings.pulumi} is Pulumi v{version}, older than the "
                f"v{MIN_VERSION} Shipyard's SDK needs: point it at a newer CLI, or unset it "
                "to let Shipyard find or build one"
            )
        return PulumiCli(explicit, version, "setting")

    on_path = shutil.which("pulumi")
    if on_path is not None:
        version = _known_version(settings, Path(on_path))
        if version is not None and _at_least(version, MIN_VERSION):
            return PulumiCli(Path(on_path).resolve(), version, "path")

    cached = cache_bin_dir(settings) / "pulumi"
    if cached.is_file():
        version = _known_version(settings, cached)
        if version is not None and _at_least(version, MIN_VERSION):
            return PulumiCli(cached, version, "cache")
    return None


def ensure_pulumi(settings: Settings, progress: Progress | None = None) -> PulumiCli:
    """The CLI to use, building the pinned version into the cache when none is found."""
    found = find_pulumi(settings)
    if found is not None:
        return found
    return build_pulumi(settings, progress=progress)


def _find_go() -> Path | None:
    found = shutil.which("go")
    return Path(found) if found is not None else None


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_dynamic_provider_plugin(bin_dir: Path, python: str | None = None) -> Path:
    """Write the ``pulumi-resource-pulumi-python`` shim Python dynamic providers need.

    It runs ``$SHIPYARD_PYTHON`` (set by the engine for every run), falling back to the
    interpreter that wrote it.
    """
    interpreter = python or sys.executable
    script = bin_dir / DYNAMIC_PROVIDER_PLUGIN
    text = (
        "#!/bin/sh\n"
        "# Written by Shipyard: Pulumi's Python dynamic provider, run by Shipyard's interpreter.\n"
        f'exec "${{SHIPYARD_PYTHON:-{interpreter}}}" -u -m pulumi.dynamic "$@"\n'
    )
    with contextlib.suppress(OSError):
        if script.read_text() == text and os.access(script, os.X_OK):
            return script  # every engine (one per job) writes it: only the first one does
    bin_dir.mkdir(parents=True, exist_ok=True)
    tmp = script.with_name(f".{script.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(script)
    return script


def build_pulumi(
    settings: Settings,
    progress: Progress | None = None,
    version: str = PINNED_VERSION,
) -> PulumiCli:
    """Build the pinned CLI into the cache; concurrent builds never leave a broken cache."""
    say = progress or (lambda _message: None)
    go = _find_go()
    if go is None:
        raise PulumiNotFoundError(
            "no usable Pulumi CLI and no Go toolchain to build one: either install Pulumi "
            f">= {MIN_VERSION} on PATH (or set SHIPYARD_PULUMI to its binary), or install "
            "Go >= 1.24 so Shipyard can build Pulumi "
            f"v{version} from its Go modules"
        )
    final = cache_bin_dir(settings, version).parent
    with _exclusive(final.parent / f".v{version}.lock"):
        ready = final / "bin" / "pulumi"
        if ready.is_file() and _probe_version(ready) == version:
            return PulumiCli(ready, version, "cache")
        say(
            f"Building the Pulumi CLI v{version} from its Go modules (one time only; about "
            "5 minutes on 2 cores, ~1.6 GB of module downloads, ~1.7 GB of build cache)"
        )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=final.parent))
        try:
            _go_build(go, staging / "bin" / "pulumi", version, say)
            write_dynamic_provider_plugin(staging / "bin")
            built = _probe_version(staging / "bin" / "pulumi")
            if built != version:
                raise PulumiBuildError(
                    f"the Pulumi CLI built in {staging} reports version {built!r}, "
                    f"expected {version}: the version stamp did not apply"
                )
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        say(f"Built Pulumi v{version} in {time.monotonic() - started:.0f} s: {ready}")
        return PulumiCli(ready, version, "built")


def _go_build(go: Path, output: Path, version: str, say: Progress) -> None:
    with tempfile.TemporaryDirectory(prefix="shipyard-pulumi-module-") as tmp:
        module = Path(tmp)
        source = resources.files("shipyard.engine") / "pulumi_module"
        for name in ("go.mod", "go.sum", "tools.go"):
            (module / name).write_bytes((source / name).read_bytes())
        _run_go_build(go, module, output, version, say)


def _run_go_build(go: Path, module: Path, output: Path, version: str, say: Progress) -> None:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    command = [
        str(go),
        "build",
        "-trimpath",
        "-tags",
        "osusergo,grpcnotrace",
        "-ldflags",
        f"-X {_VERSION_SYMBOL}=v{version}",
        "-o",
        str(output),
        _BUILD_PACKAGE,
    ]
    say("$ " + " ".join(command))
    started = time.monotonic()
    done = threading.Event()
    ticker = threading.Thread(target=_heartbeat, args=(done, started, say), daemon=True)
    ticker.start()
    try:
        code, tail = _stream(command, module, env, say)
    finally:
        done.set()
        ticker.join()
    if code != 0:
        log = "\n".join(tail)
        raise PulumiBuildError(
            f"`go build` of Pulumi v{version} failed after {time.monotonic() - started:.0f} s "
            f"(exit {code}); last lines:\n{log}\nCheck that the Go module proxy is reachable "
            "(GOPROXY) and that the disk has ~4 GB free"
        )


def _heartbeat(done: threading.Event, started: float, say: Progress) -> None:
    while not done.wait(_HEARTBEAT_SECONDS):
        say(f"... still building Pulumi ({time.monotonic() - started:.0f} s so far)")


def _stream(
    command: list[str], cwd: Path, env: dict[str, str], say: Progress
) -> tuple[int, list[str]]:
    """Run ``go build``, passing download lines on; the exit code and the last lines."""
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            tail = [*tail[-19:], line.rstrip()]
            if line.startswith("go: downloading"):
                say(line.rstrip())
        return proc.wait(), tail
