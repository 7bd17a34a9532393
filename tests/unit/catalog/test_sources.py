"""The one definition of a source: allowed remote transports, local paths, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.catalog.sources import SourceError, inside_folder, parse_source, within_roots


@pytest.mark.parametrize(
    ("text", "transport"),
    [
        ("https://github.com/acme/greeter.git", "https"),
        ("HTTPS://github.com/acme/greeter", "https"),
        ("ssh://git@github.com:22/acme/greeter.git", "ssh"),
        ("git+ssh://git@github.com/acme/greeter.git", "ssh"),
        ("git://git.example.com/greeter.git", "git"),
        ("git@github.com:acme/greeter.git", "ssh"),
        ("github.com:acme/greeter.git", "ssh"),
        ("deploy.bot@[::1]:repo.git", "ssh"),
    ],
)
def test_allowed_remotes(text: str, transport: str) -> None:
    source = parse_source(text)
    assert (source.kind, source.transport, source.text) == ("remote", transport, text)


@pytest.mark.parametrize(
    "text", ["/srv/repos/greeter", "./greeter", "greeter", "../x/y", "./a:b", "~/repos/x"]
)
def test_local_paths(text: str) -> None:
    assert parse_source(text).kind == "local"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-u.@x:;touch /tmp/p;", "starts with '-'"),
        ("--upload-pack=touch /tmp/p", "starts with '-'"),
        ("ext::sh -c touch% /tmp/p", "remote helpers"),
        ("fd::3", "remote helpers"),
        ("file:///etc/passwd", "file://"),
        ("http://git.example.com/x.git", "http:// transport"),
        ("ftp://x/y", "ftp:// transport"),
        ("ssh://-oProxyCommand=touch/x", "no valid host"),
        ("https:///nohost", "no valid host"),
        ("ssh://-user@host/x", "no valid host"),
        ("-oProxyCommand=x@host:repo", "starts with '-'"),
        ("a b:c", "user@host:path"),
        ("host:", "user@host:path"),
        ("x\n--upload-pack=y", "control characters"),
        (" https://x/y", "spaces"),
        ("", "empty"),
    ],
)
def test_refused(text: str, why: str) -> None:
    with pytest.raises(SourceError, match=why) as raised:
        parse_source(text)
    assert "https://" in str(raised.value)  # says what to give instead
    assert "\n" not in str(raised.value)


def test_within_roots_resolves_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    (root / "link").symlink_to(outside)
    assert within_roots(root / "repo", [root])
    assert not within_roots(root / "link", [root])
    assert not within_roots(root / ".." / "outside", [root])
    assert not within_roots(root / "repo", [])


def test_inside_folder(tmp_path: Path) -> None:
    assert inside_folder(tmp_path, "score.yaml") == tmp_path.resolve() / "score.yaml"
    assert inside_folder(tmp_path, "a/../b.yaml") == tmp_path.resolve() / "b.yaml"
    for escaping in ("../x", "/etc/passwd", "a/../../x", "", ".", "x\x00y"):
        assert inside_folder(tmp_path, escaping) is None
