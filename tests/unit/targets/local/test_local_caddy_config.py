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
                "servers": {
                    "mine": {"listen": [":80"]},
                    "shipyard_i1_1": {"listen": ["127.0.0.1:1"]},
                    "shipyard_other_2": {"listen": ["127.0.0.1:2"]},
                }
            }
        }
    }
    routes = [
        Route("default/greeter", "dev", "127.0.0.1:9001", 8001),
        Route("default/greeter", "prod", "127.0.0.1:9002", 8080, host="greeter.localhost"),
        Route("default/orders", "prod", "127.0.0.1:9003", 8080),
    ]
    config = caddy_config(routes, admin_listen="127.0.0.1:2019", instance="i1", base=base)

    servers = config["apps"]["http"]["servers"]
    # another Shipyard's server (instance "other") stays; this one's old server goes
    assert set(servers) == {"mine", "shipyard_other_2", "shipyard_i1_8001", "shipyard_i1_8080"}
    assert config["admin"] == {"listen": "127.0.0.1:2019", "config": {"persist": False}}
    shared = servers["shipyard_i1_8080"]["routes"]
    assert [r["@id"] for r in shared] == [
        "shipyard_i1_default_greeter_prod",
        "shipyard_i1_default_orders_prod",
    ]
    assert shared[0]["match"] == [{"host": ["greeter.localhost"]}]
    assert "match" not in shared[1]
    assert shared[1]["handle"][-1]["upstreams"] == [{"dial": "127.0.0.1:9003"}]
    assert servers["shipyard_i1_8001"]["automatic_https"] == {"disable": True}
    assert routes[1].url == "http://greeter.localhost:8080"


def test_two_instances_on_one_caddy_keep_each_others_routes() -> None:
    first = caddy_config(
        [Route("default/greeter", "dev", "127.0.0.1:9001", 8001)],
        admin_listen="127.0.0.1:2019",
        instance="aaaa",
    )
    both = caddy_config(
        [Route("default/greeter", "dev", "127.0.0.1:9101", 8101)],
        admin_listen="127.0.0.1:2019",
        instance="bbbb",
        base=first,
    )
    again = caddy_config([], admin_listen="127.0.0.1:2019", instance="bbbb", base=both)

    servers = both["apps"]["http"]["servers"]
    assert set(servers) == {"shipyard_aaaa_8001", "shipyard_bbbb_8101"}
    ids = [r["@id"] for server in servers.values() for r in server["routes"]]
    assert len(set(ids)) == 2
    assert set(again["apps"]["http"]["servers"]) == {"shipyard_aaaa_8001"}


def test_a_server_from_before_instance_ids_goes_only_when_in_the_way() -> None:
    base = {
        "apps": {
            "http": {
                "servers": {
                    "shipyard_8001": {"listen": ["127.0.0.1:8001"]},
                    "shipyard_8002": {"listen": ["127.0.0.1:8002"]},
                }
            }
        }
    }
    routes = [Route("default/greeter", "dev", "127.0.0.1:9001", 8001)]
    config = caddy_config(routes, admin_listen="127.0.0.1:2019", instance="i1", base=base)

    assert set(config["apps"]["http"]["servers"]) == {"shipyard_8002", "shipyard_i1_8001"}


def test_a_route_without_upstream_answers_503_and_every_answer_closes_its_connection() -> None:
    routes = [Route("default/greeter", "dev", "", 8001), Route("default/x", "dev", "a:1", 8002)]
    config = caddy_config(routes, admin_listen="127.0.0.1:2019", instance="i1")
    servers = config["apps"]["http"]["servers"]

    close, empty = servers["shipyard_i1_8001"]["routes"][0]["handle"]
    assert close == {"handler": "headers", "response": {"set": {"Connection": ["close"]}}}
    assert empty["handler"] == "static_response" and empty["status_code"] == 503
    assert servers["shipyard_i1_8002"]["routes"][0]["handle"][1]["handler"] == "reverse_proxy"


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
