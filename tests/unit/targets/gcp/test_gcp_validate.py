"""``shipyard validate`` names the manual step a 1st-gen GitHub connection needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shipyard.cli.validate import validate_paths

SLUG = {"github.com/project-slug": "acme/orders-api"}


def test_validate_warns_about_the_1st_gen_manual_step(
    write_component: Callable[..., tuple[Path, Path]],
) -> None:
    catalog, platform = write_component(
        "orders-api", {**SLUG, "shipyard.dev/gcp-connection": "1st-gen"}
    )
    report = validate_paths([catalog], platform)
    assert report.problems == []
    messages = sorted(w.message for w in report.warnings)
    assert len(messages) == 2  # staging and prod are gcp; dev is local
    assert messages[0].startswith("prod: gcp-connection is 1st-gen: connect acme/orders-api")
    assert messages[1].startswith("staging: ")
    assert all(w.file == str(catalog) for w in report.warnings)

    catalog, platform = write_component("orders-api", SLUG)  # 2nd-gen: nothing by hand
    assert validate_paths([catalog], platform).warnings == []
