"""Resource quantities as developers write them (``cpu: "500m"``, ``memory: 512Mi``)."""

from __future__ import annotations

import re

from shipyard.targets.local.errors import LocalTargetError

__all__ = ["InvalidQuantityError", "parse_cpu", "parse_memory"]

_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|m|g|b)?$")
_MEMORY_FACTORS = {
    None: 1,
    "b": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    # docker's own lower-case units are binary
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
}
_CPU_RE = re.compile(r"^(\d+(?:\.\d+)?)(m)?$")


class InvalidQuantityError(LocalTargetError):
    """A cpu or memory value the local target cannot read."""


def parse_memory(value: str) -> int:
    """Bytes in ``512Mi``, ``1Gi``, ``1G`` (decimal), ``256m`` (docker's MiB) or ``1048576``."""
    match = _MEMORY_RE.match(value.strip())
    if match is None:
        raise InvalidQuantityError(
            f"memory {value!r} is not a quantity: write it like 512Mi, 1Gi or 1G"
        )
    number, unit = match.groups()
    return int(float(number) * _MEMORY_FACTORS[unit])


def parse_cpu(value: str) -> float:
    """Cores in ``1``, ``0.5`` or ``500m`` (millicores)."""
    match = _CPU_RE.match(value.strip())
    if match is None or float(match.group(1)) == 0:
        raise InvalidQuantityError(f"cpu {value!r} is not a quantity: write it like 1, 0.5 or 500m")
    number, milli = match.groups()
    return float(number) / 1000 if milli else float(number)
