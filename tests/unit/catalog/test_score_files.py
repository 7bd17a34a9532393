"""Score ``containers.*.files``: both forms, inline and ``source`` content, placeholders
expanded unless ``noExpand``, binary content, and every bad entry located."""

from __future__ import annotations

import base64
from pathlib import Path

from shipyard.catalog.score import ContainerFile, parse_workload, parse_workload_text

HEAD = "apiVersion: score.dev/v1b1\nmetadata: {name: app, team: blue}\ncontainers:\n  main:\n"


def _score(files: str) -> str:
    return f"{HEAD}    image: .\n    files:\n{files}"


def _write(folder: Path, text: str, name: str = "score.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_inline_content_is_expanded_like_variables() -> None:
    text = _score(
        "      /etc/app/motd:\n"
        '        content: "hello ${metadata.name} of ${metadata.team}, $$HOME"\n'
        '        mode: "0640"\n'
        "      /etc/app/raw:\n"
        '        content: "keep ${metadata.name}"\n'
        "        noExpand: true\n"
    )
    workload, problems = parse_workload_text(text, "score.yaml")

    assert problems == []
    assert workload is not None
    motd, raw = workload.containers[0].files
    assert (motd.target, motd.content, motd.mode) == (
        "/etc/app/motd",
        "hello app of blue, $HOME",
        "0640",
    )
    assert (raw.content, raw.no_expand) == ("keep ${metadata.name}", True)
    assert motd.data == b"hello app of blue, $HOME"


def test_the_deprecated_array_form_and_binary_content() -> None:
    text = _score(
        "      - target: /data/blob\n        binaryContent: AAEC/w==\n"
        "      - target: /data/text\n        content: plain\n"
    )
    workload, problems = parse_workload_text(text, "score.yaml")

    assert problems == [] and workload is not None
    blob, plain = workload.containers[0].files
    assert blob.data == b"\x00\x01\x02\xff"
    assert (plain.target, plain.data) == ("/data/text", b"plain")


def test_a_source_file_is_read_relative_to_the_score_file_and_expanded(tmp_path: Path) -> None:
    component = tmp_path / "component"
    (component / "deploy" / "conf").mkdir(parents=True)
    (component / "deploy" / "conf" / "app.ini").write_text("name=${metadata.name}\n")
    (component / "deploy" / "logo.bin").write_bytes(b"\x89PNG\xff\x00")
    score = _write(
        component / "deploy",
        _score(
            "      /etc/app.ini:\n        source: conf/app.ini\n"
            '      /srv/logo.png:\n        source: ./logo.bin\n        mode: "0444"\n'
        ),
    )

    workload, problems = parse_workload(score, "deploy/score.yaml", sources_root=component)

    assert problems == [] and workload is not None
    ini, logo = workload.containers[0].files
    assert (ini.source, ini.content) == ("conf/app.ini", "name=app\n")
    assert logo.data == b"\x89PNG\xff\x00"
    assert logo.binary_content == base64.b64encode(b"\x89PNG\xff\x00").decode()


def test_without_a_sources_root_a_source_stays_unread(tmp_path: Path) -> None:
    score = _write(tmp_path, _score("      /etc/app.ini:\n        source: missing.ini\n"))

    workload, problems = parse_workload(score)

    assert problems == [] and workload is not None
    (file,) = workload.containers[0].files
    assert (file.source, file.data) == ("missing.ini", None)


def test_a_source_outside_the_component_folder_or_missing_is_located(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not yours")
    component = tmp_path / "component"
    (component / "link").parent.mkdir(parents=True)
    (component / "link").symlink_to(tmp_path / "secret.txt")
    score = _write(
        component,
        _score(
            "      /a:\n        source: ../secret.txt\n"
            "      /b:\n        source: /etc/passwd\n"
            "      /c:\n        source: link\n"
            "      /d:\n        source: nope.txt\n"
        ),
    )

    workload, problems = parse_workload(score, "score.yaml", sources_root=component)

    assert workload is None
    found = [(p.line, p.path, p.message.split(" (")[0]) for p in problems]
    assert found[0][:2] == (8, 'containers.main.files["/a"].source')
    assert [p.path for p in problems] == [
        'containers.main.files["/a"].source',
        'containers.main.files["/b"].source',
        'containers.main.files["/c"].source',
        'containers.main.files["/d"].source',
    ]
    assert "points outside the component's folder" in problems[0].message
    assert "points outside the component's folder" in problems[2].message
    assert "does not exist" in problems[3].message
    assert all(p.hint for p in problems)


def test_bad_targets_placeholders_and_content_are_located() -> None:
    text = _score(
        "      etc/relative:\n        content: x\n"
        "      /etc/../escape:\n        content: x\n"
        "      /etc/dir/:\n        content: x\n"
        '      /ok:\n        content: "${metadata.nope}"\n'
        '      /bin:\n        binaryContent: "not base64!"\n'
    )
    workload, problems = parse_workload_text(text, "score.yaml")

    assert workload is None
    assert [p.path for p in problems] == [
        'containers.main.files["etc/relative"]',
        'containers.main.files["/etc/../escape"]',
        'containers.main.files["/etc/dir/"]',
        'containers.main.files["/ok"].content',
        'containers.main.files["/bin"].binaryContent',
    ]
    assert "not an absolute path" in problems[0].message
    assert "names no metadata field" in problems[3].message
    assert "not base64" in problems[4].message


def test_content_naming_a_resource_waits_for_it() -> None:
    text = (
        f"{HEAD}    image: .\n    files:\n"
        '      /etc/db.conf:\n        content: "host=${resources.db.host}"\n'
        "resources:\n  db:\n    type: postgres\n"
    )
    workload, problems = parse_workload_text(text, "score.yaml")

    assert problems == [] and workload is not None
    (file,) = workload.containers[0].files
    assert file == ContainerFile(
        target="/etc/db.conf", content="host=${resources.db.host}", pending=True
    )


def test_two_array_items_with_one_target_are_refused() -> None:
    text = _score(
        "      - target: /same\n        content: a\n      - target: /same\n        content: b\n"
    )
    workload, problems = parse_workload_text(text, "score.yaml")

    assert workload is None
    assert [(p.path, p.message) for p in problems] == [
        ("containers.main.files[1]", "two files have the target '/same'")
    ]


def test_a_folded_scalar_reads_as_yaml_folds_it() -> None:
    text = _score("      /etc/motd:\n        content: >-\n          one;\n          two\n")
    workload, problems = parse_workload_text(text, "score.yaml")

    assert problems == [] and workload is not None
    assert workload.containers[0].files[0].content == "one; two"


def test_a_source_over_1_mib_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * (1024 * 1024 + 1))
    score = _write(tmp_path, _score("      /big:\n        source: big.bin\n"))

    workload, problems = parse_workload(score, "score.yaml", sources_root=tmp_path)

    assert workload is None
    assert [(p.path, p.message) for p in problems] == [
        ('containers.main.files["/big"].source', "source 'big.bin' is over 1 MiB")
    ]
