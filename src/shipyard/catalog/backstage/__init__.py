"""Backstage: descriptor files, entity validation, entity refs and the catalog API client."""

from __future__ import annotations

from shipyard.catalog.backstage._files import (
    DescriptorFile,
    load_components,
    read_catalog,
    read_descriptor,
    read_descriptor_text,
)
from shipyard.catalog.backstage._model import (
    ANNOTATION_PREFIX,
    Component,
    Entity,
    EntityRef,
    InvalidEntityRef,
    LocationEntity,
)
from shipyard.catalog.backstage.client import (
    BackstageAuthError,
    BackstageClient,
    BackstageError,
    CatalogComponents,
)

__all__ = [
    "ANNOTATION_PREFIX",
    "BackstageAuthError",
    "BackstageClient",
    "BackstageError",
    "CatalogComponents",
    "Component",
    "DescriptorFile",
    "Entity",
    "EntityRef",
    "InvalidEntityRef",
    "LocationEntity",
    "load_components",
    "read_catalog",
    "read_descriptor",
    "read_descriptor_text",
]
