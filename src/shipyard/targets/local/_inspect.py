"""Read ``docker/podman inspect`` JSON (the two differ in small ways) into typed records."""

from __future__ import annotations

import json
from typing import Any

from shipyard.targets.local.containers import ContainerInfo, ImageInfo, PortMapping

__all__ = ["parse_containers", "parse_images"]


def _records(text: str) -> list[dict[str, Any]]:
    data = json.loads(text or "[]")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _ports(raw: dict[str, Any] | None) -> tuple[PortMapping, ...]:
    ports: list[PortMapping] = []
    for key, bindings in sorted((raw or {}).items()):
        number, _, protocol = key.partition("/")
        for binding in bindings or ():
            host_port = binding.get("HostPort") or None
            ports.append(
                PortMapping(
                    container_port=int(number),
                    host_port=int(host_port) if host_port else None,
                    host_ip=binding.get("HostIp") or "0.0.0.0",  # noqa: S104 (as reported)
                    protocol="udp" if protocol == "udp" else "tcp",
                )
            )
    return tuple(ports)


def _container(item: dict[str, Any]) -> ContainerInfo:
    config = item.get("Config") or {}
    state = item.get("State") or {}
    health = state.get("Health") or state.get("Healthcheck") or {}
    return ContainerInfo(
        id=item["Id"],
        name=str(item.get("Name", "")).lstrip("/"),
        image=config.get("Image") or item.get("ImageName") or "",
        image_id=_image_id(item.get("Image", "")),
        status=state.get("Status", ""),
        running=bool(state.get("Running")),
        labels=dict(config.get("Labels") or {}),
        ports=_ports((item.get("NetworkSettings") or {}).get("Ports")),
        health=health.get("Status") or None,
    )


def _image_id(raw: str) -> str:
    """``sha256:<hex>`` whichever engine answered (podman leaves the prefix out)."""
    return raw if not raw or raw.startswith("sha256:") else f"sha256:{raw}"


def _image(item: dict[str, Any]) -> ImageInfo:
    labels = (item.get("Config") or {}).get("Labels") or item.get("Labels") or {}
    return ImageInfo(
        id=_image_id(item["Id"]),
        references=tuple(item.get("RepoTags") or ()),
        digests=tuple(item.get("RepoDigests") or ()),
        labels=dict(labels),
    )


def parse_containers(text: str) -> list[ContainerInfo]:
    return [_container(item) for item in _records(text)]


def parse_images(text: str) -> list[ImageInfo]:
    return [_image(item) for item in _records(text)]
