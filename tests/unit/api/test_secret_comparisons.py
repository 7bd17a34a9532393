"""No code compares a secret with ``==`` (its timing would tell how much of a guess was
right): tokens are found by the hash of what is presented, other secrets are compared with
``hmac.compare_digest``. This reads every module of ``src/shipyard`` but the test helpers
of ``shipyard.testing`` (a fake identity provider is no code path of a server)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "shipyard"
SECRET = re.compile(r"secret|password|passphrase|csrf|bearer|credential|^token$|_token$", re.I)
# A job's ``lease_token`` is a fencing counter (it grows by one per claim and is shown in
# the job's record), not a secret: comparing it with ``==`` tells a guesser nothing.
NOT_A_SECRET = re.compile(
    r"_id$|_hash$|_file$|_url$|_name$|_type$|^token_kind$|^lease_token$", re.I
)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _secret_like(node: ast.expr) -> bool:
    name = _name(node)
    return bool(name and SECRET.search(name) and not NOT_A_SECRET.search(name))


def _equality_on_secrets(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq):
                continue
            if any(isinstance(side, ast.Constant) for side in (left, right)):
                continue  # against a literal (None, "", a kind name): no secret compared
            if _secret_like(left) or _secret_like(right):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_secret_is_compared_with_equality() -> None:
    problems = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if "testing" not in path.relative_to(SRC).parts
        for hit in _equality_on_secrets(path)
    ]
    assert problems == []


def test_the_check_sees_an_equality_on_a_secret(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def ok(given, expected_token):\n    return given == expected_token\n")
    assert _equality_on_secrets(module) == ["bad.py:2"]
    module.write_text(
        "def ok(token_id, other, secret):\n    return token_id == other or secret is None\n"
    )
    assert _equality_on_secrets(module) == []
    module.write_text("def fenced(job, token):\n    return job.lease_token == token\n")
    assert _equality_on_secrets(module) == ["bad.py:2"], "the presented `token` is still checked"
