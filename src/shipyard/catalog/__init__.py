"""Backstage components, Score workloads and platform contracts -> typed desired state.

Read inputs with :func:`read_catalog` / :func:`parse_platform` / :func:`parse_workload`
(problems returned, never raised) or the ``load_*`` forms (raising :class:`CatalogError`),
then :func:`resolve` a component for an environment into a :class:`DesiredState`.
"""

from __future__ import annotations

from shipyard.catalog._problems import CatalogError, Problem
from shipyard.catalog.backstage import (
    Component,
    DescriptorFile,
    Entity,
    EntityRef,
    load_components,
    read_catalog,
    read_descriptor,
)
from shipyard.catalog.platform import Environment, Platform, Template, load_platform, parse_platform
from shipyard.catalog.resolve import check, contract_problems, resolve
from shipyard.catalog.score import Workload, default_workload, load_workload, parse_workload
from shipyard.catalog.state import DesiredState, Provenance, SourceRef

__all__ = [
    "CatalogError",
    "Component",
    "DescriptorFile",
    "DesiredState",
    "Entity",
    "EntityRef",
    "Environment",
    "Platform",
    "Problem",
    "Provenance",
    "SourceRef",
    "Template",
    "Workload",
    "check",
    "contract_problems",
    "default_workload",
    "load_components",
    "load_platform",
    "load_workload",
    "parse_platform",
    "parse_workload",
    "read_catalog",
    "read_descriptor",
    "resolve",
]
