from __future__ import annotations

import pytest

from shipyard.engine import StackRef, pulumi_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("orders-api", "orders-api"),
        ("default/orders-api", "default.orders-api"),
        ("prod", "prod"),
        ("v1.2_x", "v1.2_x"),
    ],
)
def test_safe_names_are_kept_and_namespaced_ids_are_dotted(raw: str, expected: str) -> None:
    assert pulumi_name(raw) == expected


def test_unsafe_names_are_sanitised_with_a_hash_so_they_never_collide() -> None:
    a, b = pulumi_name("team a/my api"), pulumi_name("team-a/my-api")
    assert a != b
    assert a.startswith("team-a.my-api-")
    assert pulumi_name("a b") != pulumi_name("a#b")


def test_long_names_are_cut_to_pulumis_limit() -> None:
    name = pulumi_name("x" * 300)
    assert len(name) == 100
    assert name != pulumi_name("x" * 301)


def test_empty_names_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        pulumi_name("")


def test_stack_ref_of_raw_ids_and_its_display() -> None:
    ref = StackRef.of("default/orders-api", "prod")
    assert ref == StackRef("default.orders-api", "prod")
    assert str(ref) == "default.orders-api/prod"


def test_stack_ref_refuses_unsafe_fields() -> None:
    with pytest.raises(ValueError, match=r"StackRef\.of"):
        StackRef("default/orders-api", "prod")
