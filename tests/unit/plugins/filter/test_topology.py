"""Unit tests for plugins/filter/topology.py, with plain dicts standing in for groups and hostvars."""

import importlib.util
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

_PATH = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "filter" / "topology.py"
_SPEC = importlib.util.spec_from_file_location("topology", _PATH)
topology = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(topology)


def facts(address):
    return {"ansible_facts": {"default_ipv4": {"address": address, "interface": "eth0"}}}


@pytest.fixture
def inventory():
    groups = {
        "brokers": ["broker1", "broker2", "broker3"],
        "bridge": ["bridgemaster"],
        "loadbalancers": ["lb1", "lb2"],
    }
    hostvars = {
        "broker1": facts("10.0.0.11"),
        "broker2": {"ansible_host": "10.0.0.12"},
        "broker3": {**facts("192.168.9.9"), "cluster_address": "10.0.0.13", "cluster_broker_port": 9883},
        "bridgemaster": facts("10.0.0.21"),
        "lb1": facts("10.0.0.31"),
        "lb2": facts("10.0.0.32"),
    }
    return groups, hostvars


def test_filters_are_registered():
    assert set(topology.FilterModule().filters()) == {
        "broker_endpoints", "bridge_connections", "vrrp_peers", "vrrp_pair", "vrrp_pair_changes", "host_address", "group_addresses",
        "outside_subnet", "pki_files", "host_kinds"}


def test_group_addresses(inventory):
    groups, hostvars = inventory
    assert topology.group_addresses("loadbalancers", groups, hostvars) == ["10.0.0.31", "10.0.0.32"]
    with pytest.raises(AnsibleFilterError, match="'nope' is missing"):
        topology.group_addresses("nope", groups, hostvars)


def test_host_address_precedence(inventory):
    _unused, hostvars = inventory
    assert topology.host_address(hostvars, "broker1") == "10.0.0.11"  # facts
    assert topology.host_address(hostvars, "broker2") == "10.0.0.12"  # ansible_host
    assert topology.host_address(hostvars, "broker3") == "10.0.0.13"  # explicit beats facts


def test_host_address_legacy_fact_name():
    assert topology.host_address({"h": {"ansible_default_ipv4": {"address": "10.1.1.1"}}}, "h") == "10.1.1.1"


def test_host_address_without_any_source_names_the_host():
    with pytest.raises(AnsibleFilterError, match="'nowhere'.*cluster_address"):
        topology.host_address({"nowhere": {"ansible_host": "nowhere.example"}}, "nowhere")


def test_host_address_rejects_bad_explicit_value():
    with pytest.raises(AnsibleFilterError, match="not an IPv4"):
        topology.host_address({"h": {"cluster_address": "banana"}}, "h")


def test_broker_endpoints_in_inventory_order_with_port_override(inventory):
    groups, hostvars = inventory
    assert topology.broker_endpoints(groups, hostvars, "brokers") == [
        {"name": "broker1", "address": "10.0.0.11", "port": 8883},
        {"name": "broker2", "address": "10.0.0.12", "port": 8883},
        {"name": "broker3", "address": "10.0.0.13", "port": 9883},
    ]


def test_broker_endpoints_follow_the_inventory_when_it_grows(inventory):
    groups, hostvars = inventory
    groups["brokers"].append("broker4")
    hostvars["broker4"] = facts("10.0.0.14")
    names = [e["name"] for e in topology.broker_endpoints(groups, hostvars, "brokers")]
    assert names == ["broker1", "broker2", "broker3", "broker4"]


def test_broker_endpoints_default_port_parameter(inventory):
    groups, hostvars = inventory
    ports = [e["port"] for e in topology.broker_endpoints(groups, hostvars, "brokers", default_port=1884)]
    assert ports == [1884, 1884, 9883]


@pytest.mark.parametrize("groups", [{}, {"brokers": []}])
def test_broker_endpoints_empty_group(groups):
    with pytest.raises(AnsibleFilterError, match="'brokers' is missing or empty"):
        topology.broker_endpoints(groups, {}, "brokers")


def test_broker_endpoints_duplicate_address(inventory):
    groups, hostvars = inventory
    hostvars["broker2"] = facts("10.0.0.11")
    with pytest.raises(AnsibleFilterError, match="'broker1' and 'broker2'.*10.0.0.11:8883"):
        topology.broker_endpoints(groups, hostvars, "brokers")


@pytest.mark.parametrize("port", ["http", 0, 70000])
def test_broker_endpoints_bad_port(inventory, port):
    groups, hostvars = inventory
    hostvars["broker1"]["cluster_broker_port"] = port
    with pytest.raises(AnsibleFilterError, match="cluster_broker_port of host 'broker1'"):
        topology.broker_endpoints(groups, hostvars, "brokers")


def test_bridge_connections(inventory):
    groups, hostvars = inventory
    conns = topology.bridge_connections(groups, hostvars, "bridgemaster", "brokers")
    assert [c["name"] for c in conns] == ["bridge-broker1", "bridge-broker2", "bridge-broker3"]
    assert conns[2] == {
        "name": "bridge-broker3",
        "host": "broker3",
        "address": "10.0.0.13",
        "port": 9883,
        "local_clientid": "bridgemaster.bridge-broker3",
        "remote_clientid": "bridgemaster.bridge-broker3",
    }
    assert len({c["remote_clientid"] for c in conns}) == len(conns)


def test_standby_bridge_master_takes_over_the_same_sessions(inventory):
    """Both bridge masters of a standby pair present the same client ids, so a broker keeps one bridge session
    (and its queue) whichever of them is connected."""
    groups, hostvars = inventory
    active = topology.bridge_connections(groups, hostvars, "bridgemaster", "brokers")
    standby = topology.bridge_connections(groups, hostvars, "bridgemaster2", "brokers", clientid_base="bridgemaster")
    assert standby == active
    alone = topology.bridge_connections(groups, hostvars, "bridgemaster2", "brokers")
    assert alone[0]["remote_clientid"] == "bridgemaster2.bridge-broker1"


def test_bridge_connection_names_are_sanitised_and_unique():
    groups = {"brokers": ["mq 1.example.com", "mq/1.example.com"]}
    hostvars = {"mq 1.example.com": facts("10.0.0.1"), "mq/1.example.com": facts("10.0.0.2")}
    with pytest.raises(AnsibleFilterError, match="same bridge connection name 'bridge-mq_1.example.com'"):
        topology.bridge_connections(groups, hostvars, "bm", "brokers")
    conns = topology.bridge_connections({"brokers": ["mq 1.example.com"]}, hostvars, "bm", "brokers")
    assert conns[0]["name"] == "bridge-mq_1.example.com"


def test_bridge_master_cannot_be_a_broker(inventory):
    groups, hostvars = inventory
    with pytest.raises(AnsibleFilterError, match="both the bridge master and a broker"):
        topology.bridge_connections(groups, hostvars, "broker1", "brokers")


def test_vrrp_peers_derived_priorities(inventory):
    groups, hostvars = inventory
    assert topology.vrrp_peers(groups, hostvars, "lb1", "loadbalancers") == {
        "priority": 150, "state": "MASTER", "address": "10.0.0.31", "peers": ["10.0.0.32"]}
    assert topology.vrrp_peers(groups, hostvars, "lb2", "loadbalancers") == {
        "priority": 100, "state": "BACKUP", "address": "10.0.0.32", "peers": ["10.0.0.31"]}


def test_vrrp_peers_hostvar_priority_wins(inventory):
    groups, hostvars = inventory
    hostvars["lb2"]["vip_priority"] = 200
    assert topology.vrrp_peers(groups, hostvars, "lb2", "loadbalancers")["state"] == "MASTER"
    assert topology.vrrp_peers(groups, hostvars, "lb1", "loadbalancers")["state"] == "BACKUP"


def test_vrrp_peers_equal_priorities_rejected(inventory):
    groups, hostvars = inventory
    hostvars["lb1"]["vip_priority"] = 100
    with pytest.raises(AnsibleFilterError, match="same VRRP priority 100"):
        topology.vrrp_peers(groups, hostvars, "lb2", "loadbalancers")


@pytest.mark.parametrize("priority", [0, 255, "high"])
def test_vrrp_peers_bad_priority(inventory, priority):
    groups, hostvars = inventory
    hostvars["lb1"]["vip_priority"] = priority
    with pytest.raises(AnsibleFilterError, match="vip_priority of host 'lb1'"):
        topology.vrrp_peers(groups, hostvars, "lb1", "loadbalancers")


def test_vrrp_peers_host_outside_group(inventory):
    groups, hostvars = inventory
    with pytest.raises(AnsibleFilterError, match="not in group 'loadbalancers'"):
        topology.vrrp_peers(groups, hostvars, "broker1", "loadbalancers")


def test_outside_subnet_lists_addresses_not_in_the_vip_network():
    assert topology.outside_subnet(["10.0.0.31", "10.0.0.32"], "10.0.0.100", 24) == []
    assert topology.outside_subnet(["10.0.0.31", "10.0.1.32"], "10.0.0.100", "24") == ["10.0.1.32"]
    assert topology.outside_subnet(["10.0.1.32"], "10.0.0.100", 16) == []
    assert topology.outside_subnet(["not-an-ip"], "10.0.0.100", 24) == ["not-an-ip"]


def test_outside_subnet_refuses_a_bad_network():
    with pytest.raises(AnsibleFilterError, match="not an IPv4 network"):
        topology.outside_subnet(["10.0.0.1"], "10.0.0.300", 24)


def test_pki_files_names_the_ca_certificate_and_key_of_a_host():
    assert topology.pki_files("/etc/mosquitto-ha/pki/", "broker1") == {
        "ca": "/etc/mosquitto-ha/pki/ca.crt",
        "cert": "/etc/mosquitto-ha/pki/broker1.crt",
        "key": "/etc/mosquitto-ha/pki/broker1.key",
    }


@pytest.mark.parametrize("pki_dir, host", [("etc/pki", "broker1"), ("", "broker1"), (None, "broker1"),
                                           ("/etc/pki", ""), ("/etc/pki", "../x"), ("/etc/pki", None)])
def test_pki_files_refuses_a_relative_directory_or_a_bad_host(pki_dir, host):
    with pytest.raises(AnsibleFilterError, match="pki_files"):
        topology.pki_files(pki_dir, host)


KINDS_GROUPS = {
    "brokers": ["broker1", "broker2"],
    "bridge": ["bridge1", "bridge2"],
    "loadbalancers": ["lb1", "lb2"],
    "other": ["stranger"],
}


@pytest.mark.parametrize("host, expected", [
    ("broker1", {"broker": True, "bridge": False, "mosquitto": True, "loadbalancer": False, "bridge_pair": False}),
    ("bridge2", {"broker": False, "bridge": True, "mosquitto": True, "loadbalancer": False, "bridge_pair": True}),
    ("lb1", {"broker": False, "bridge": False, "mosquitto": False, "loadbalancer": True, "bridge_pair": False}),
    ("stranger", {"broker": False, "bridge": False, "mosquitto": False, "loadbalancer": False, "bridge_pair": False}),
])
def test_host_kinds_of_each_kind_and_of_a_host_in_no_cluster_group(host, expected):
    assert topology.host_kinds(KINDS_GROUPS, host, "brokers", "bridge", "loadbalancers") == expected


def test_host_kinds_one_bridge_master_is_no_pair():
    groups = {**KINDS_GROUPS, "bridge": ["bridge1"]}
    kinds = topology.host_kinds(groups, "bridge1", "brokers", "bridge", "loadbalancers")
    assert kinds["bridge"] and kinds["mosquitto"] and not kinds["bridge_pair"]


def test_host_kinds_a_pair_needs_the_host_in_it():
    # Two bridge masters, but the host is a broker: it is not one of the pair.
    assert not topology.host_kinds(KINDS_GROUPS, "broker2", "brokers", "bridge", "loadbalancers")["bridge_pair"]


def test_host_kinds_of_a_host_in_two_groups():
    groups = {"brokers": ["h"], "bridge": [], "loadbalancers": ["h"]}
    kinds = topology.host_kinds(groups, "h", "brokers", "bridge", "loadbalancers")
    assert kinds == {"broker": True, "bridge": False, "mosquitto": True, "loadbalancer": True, "bridge_pair": False}


def test_host_kinds_missing_groups_count_as_empty():
    nothing = {"broker": False, "bridge": False, "mosquitto": False, "loadbalancer": False, "bridge_pair": False}
    assert topology.host_kinds({}, "broker1", "brokers", "bridge", "loadbalancers") == nothing
    assert topology.host_kinds({"brokers": None}, "broker1") == nothing
    only_brokers = topology.host_kinds({"brokers": ["broker1"]}, "broker1", "brokers", "no-such-group", "")
    assert only_brokers == {**nothing, "broker": True, "mosquitto": True}


def test_host_kinds_uses_the_group_names_given():
    groups = {"mqtt": ["m1"], "relay": ["r1", "r2"], "front": ["f1"]}
    assert topology.host_kinds(groups, "r1", "mqtt", "relay", "front")["bridge_pair"]
    assert topology.host_kinds(groups, "f1", "mqtt", "relay", "front")["loadbalancer"]
    assert topology.host_kinds(groups, "m1", "mqtt", "relay", "front")["broker"]
    # The default group names are the cluster role's defaults.
    assert topology.host_kinds(KINDS_GROUPS, "lb2")["loadbalancer"]


@pytest.mark.parametrize("host", [None, "", 3])
def test_host_kinds_refuses_a_host_that_is_no_name(host):
    with pytest.raises(AnsibleFilterError, match="not an inventory host name"):
        topology.host_kinds(KINDS_GROUPS, host)


_CONF_V2 = """global_defs {
    vrrp_version 2
}
vrrp_instance x_vip {
    virtual_router_id 51
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cretPw
    }
}
"""
_CONF_V3 = """global_defs {
    vrrp_version 3
}
vrrp_instance x_vip {
    virtual_router_id 51
    advert_int 0.2
    unicast_src_ip 10.0.0.31
    unicast_peer {
        10.0.0.32
    }
}
"""


def test_vrrp_pair_reads_the_shared_settings_without_the_password():
    v2 = topology.vrrp_pair(_CONF_V2)
    assert v2["vrrp_version"] == 2 and v2["virtual_router_id"] == 51 and v2["advert_int"] == 1.0
    assert v2["unicast"] is False and v2["auth"] and "s3cretPw" not in repr(v2)
    assert topology.vrrp_pair(_CONF_V3) == {
        "vrrp_version": 3, "virtual_router_id": 51, "advert_int": 0.2, "auth": None, "unicast": True}
    assert topology.vrrp_pair("") == {}
    # keepalived's own defaults when a setting is absent
    assert topology.vrrp_pair("vrrp_instance x {\n}\n")["vrrp_version"] == 2
    with pytest.raises(AnsibleFilterError):
        topology.vrrp_pair({"not": "text"})


def test_vrrp_pair_changes_names_each_variable_and_hides_the_password():
    changes = topology.vrrp_pair_changes(topology.vrrp_pair(_CONF_V2), topology.vrrp_pair(_CONF_V3))
    assert changes == ["vip_vrrp_version: 2 -> 3", "vip_advert_int: 1 -> 0.2", "vip_auth_pass: authentication off",
                       "vip_unicast: false -> true"]
    other_password = topology.vrrp_pair(_CONF_V2.replace("s3cretPw", "0therPw1"))
    assert topology.vrrp_pair_changes(topology.vrrp_pair(_CONF_V2), other_password) == [
        "vip_auth_pass: the VRRP password changes"]
    assert not any("s3cretPw" in line or "0therPw1" in line
                   for line in topology.vrrp_pair_changes(topology.vrrp_pair(_CONF_V2), other_password))
    router = topology.vrrp_pair(_CONF_V3.replace("router_id 51", "router_id 52"))
    assert topology.vrrp_pair_changes(topology.vrrp_pair(_CONF_V3), router) == ["vip_virtual_router_id: 51 -> 52"]
    # nothing runs yet, or nothing shared changes: no switch
    assert topology.vrrp_pair_changes({}, topology.vrrp_pair(_CONF_V3)) == []
    assert topology.vrrp_pair_changes(topology.vrrp_pair(_CONF_V3), topology.vrrp_pair(_CONF_V3)) == []
