"""Score ``files`` are not mounted on Cloud Run yet: the gcp target refuses them before
any API call, naming the field, instead of dropping them; the same component without
files plans as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipyard.catalog import DesiredState
from shipyard.targets.gcp import UnsupportedComponentError, gcp_plan
from shipyard.targets.render import render

Resolver = Callable[..., DesiredState]  # the `desired` fixture (conftest.py)
SLUG = {"github.com/project-slug": "acme/orders-api"}
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: orders-api}
containers:
  web:
    image: .
%s
service:
  ports:
    http: {port: 8080}
"""
FILES = """\
    files:
      /etc/orders/settings.toml:
        content: "name = ${metadata.name}"
"""


def test_files_are_refused_with_the_field_named(desired: Resolver) -> None:
    state = desired("orders-api", "staging", SLUG, SCORE % FILES)

    with pytest.raises(UnsupportedComponentError) as caught:
        gcp_plan(state, None)
    message = str(caught.value)
    assert "containers.web.files" in message and "/etc/orders/settings.toml" in message
    assert "orders-api (staging)" in message
    with pytest.raises(UnsupportedComponentError, match="does not mount files"):
        render(state)


def test_without_files_the_plan_stands(desired: Resolver) -> None:
    state = desired("orders-api", "staging", SLUG, SCORE % "")

    assert gcp_plan(state, None).desired == state
