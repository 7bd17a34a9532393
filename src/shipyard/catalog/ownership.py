"""Ownership references: who owns a component, and which teams a caller acts for.

A component's team is its ``spec.owner``, a Backstage entity reference whose kind defaults
to ``group`` and namespace to ``default``: ``payments``, ``group:payments`` and
``group:default/payments`` are one owner. Tokens' ``--team`` values, OIDC groups and a
Backstage token's ``ent`` claim are compared in the same canonical form,
``<kind>:<namespace>/<name>``, lowercased (Backstage compares references without case).
"""

from __future__ import annotations

__all__ = ["owner_ref"]


def owner_ref(
    value: str, *, default_kind: str = "group", default_namespace: str = "default"
) -> str:
    """The canonical reference of ``value``: ``group:default/payments`` for ``payments``."""
    text = value.strip()
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = default_kind, text
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = default_namespace, rest
    return f"{kind}:{namespace}/{name}".lower()
