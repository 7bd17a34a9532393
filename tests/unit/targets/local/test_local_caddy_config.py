"""Shipyard's routes as Caddy config: one server per port, others' servers kept; whether
the kernel keeps a switch from dropping queued connections."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.targets.local._caddy_config import Route, caddy_config
from shipyard.targets.local.proxy import switch_drops_queued


def test_routes_become_servers_and_foreign_servers_stay() -> None:
    base = {
        "apps": {
            "http": {
                "servers": {"mine": {"listen": [":80"]}, "shipyard_1": {"listen": ["127.0.0.1:1"]}}
            }
        }
    }
    routes = [
        Route("default/greeter", "dev", "127.0.0.1:9001", 8001),
        Route("default/greeter", "prod", "127.0.0.1:9002", 8080, host="greeter.localhost"),
        Route("default/orders", "prod", "127.0.0.1:9003", 8080),
    ]
    config = caddy_config(routes, admin_listen="127.0.0.1:2019", base=base)

    servers = config["apps"]["http"]["servers"]
    assert set(servers) == {"mine", "shipyard_8001", "shipyard_8080"}
    assert config["admin"] == {"listen": "127.0.0.1:2019", "config": {"persist": False}}
    shared = servers["shipyard_8080"]["routes"]
    assert [r["@id"] for r in shared] == [
        "shipyard_default_greeter_prod",
        "shipyard_default_orders_prod",
    ]
    assert shared[0]["match"] == [{"host": ["greeter.localhost"]}]
    assert "match" not in shared[1]
    assert shared[1]["handle"][-1]["upstreams"] == [{"dial": "127.0.0.1:9003"}]
    assert servers["shipyard_8001"]["automatic_https"] == {"disable": True}
    assert routes[1].url == "http://greeter.localhost:8080"


def test_a_route_without_upstream_answers_503_and_every_answer_closes_its_connection() -> None:
    routes = [Route("default/greeter", "dev", "", 8001), Route("default/x", "dev", "a:1", 8002)]
    servers = caddy_config(routes, admin_listen="127.0.0.1:2019")["apps"]["http"]["servers"]

    close, empty = servers["shipyard_8001"]["routes"][0]["handle"]
    assert close == {"handler": "headers", "response": {"set": {"Connection": ["close"]}}}
    assert empty["handler"] == "static_response" and empty["status_code"] == 503
    assert servers["shipyard_8002"]["routes"][0]["handle"][1]["handler"] == "reverse_proxy"


@pytest.mark.parametrize(
    ("content", "drops"), [("0\n", True), ("1\n", False), (None, None)], ids=["0", "1", "none"]
)
def test_whether_a_switch_may_drop_queued_connections(
    tmp_path: Path, content: str | None, drops: bool | None
) -> None:
    sysctl = tmp_path / "tcp_migrate_req"
    if content is not None:
        sysctl.write_text(content)

    assert switch_drops_queued(sysctl) is drops
