# Copyright: mosquitto-ha maintainers
# MIT License (see LICENSE)
"""Filters that derive the cluster's peer lists from inventory groups and hostvars."""

from __future__ import annotations

import hashlib
import ipaddress
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: topology
short_description: Derive the cluster topology (broker endpoints, bridge connections, VRRP peers) from the inventory
version_added: 0.1.0
description:
  - This plugin file provides the filters C(broker_endpoints), C(bridge_connections), C(vrrp_peers),
    C(vrrp_pair), C(vrrp_pair_changes), C(host_address), C(group_addresses), C(outside_subnet), C(pki_files) and
    C(host_kinds). They turn inventory
    groups and hostvars into the lists that the templates render, so that no template indexes a group by position
    and scaling out is an inventory change.
  - C(host_kinds) is the one definition of what a host is in the cluster (broker, bridge master, mosquitto host,
    load balancer, one of a pair of bridge masters); every role reads it instead of testing group membership itself.
  - C(vrrp_pair) reads the settings that both load balancers must share (VRRP version, router id, advert interval,
    authentication, unicast) from the text of a keepalived.conf; C(vrrp_pair_changes) lists what differs between two
    such results, so the vip role can switch both nodes together instead of one after the other.
  - A host's address is, in this order, its O(address_var) hostvar (default C(cluster_address)),
    the IPv4 address of its default route from gathered facts, or its C(ansible_host) when that is an
    IPv4 address. A host with none of these is an error that names the host.
options:
  _input:
    description: The C(groups) magic variable (for C(host_address), the C(hostvars) magic variable).
    type: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
  group:
    description: Name of the inventory group to read.
    type: str
  port_var:
    description: Hostvar that overrides the default port for one broker.
    type: str
    default: cluster_broker_port
  default_port:
    description: Port used when a broker does not set O(port_var).
    type: int
    default: 8883
  address_var:
    description: Hostvar that sets a host's cluster address explicitly.
    type: str
    default: cluster_address
  host:
    description: For C(host_kinds), the inventory name of the host (usually C(inventory_hostname)).
    type: str
  broker_group:
    description: For C(host_kinds), the brokers' group (C(cluster_broker_group)).
    type: str
    default: brokers
  bridge_group:
    description: For C(host_kinds), the bridge masters' group (C(cluster_bridge_group)).
    type: str
    default: bridge
  lb_group:
    description: For C(host_kinds), the load balancers' group (C(cluster_lb_group)).
    type: str
    default: loadbalancers
  clientid_base:
    description:
      - For C(bridge_connections), the first part of every bridge client id (default the bridge host's name).
        Both bridge masters of a standby pair pass the same value, so that a broker sees one bridge session.
    type: str
author:
  - mosquitto-ha maintainers
"""

EXAMPLES = r"""
- name: Nginx upstream servers, one per broker
  ansible.builtin.debug:
    msg: "{{ groups | mosquitto_ha.cluster.broker_endpoints(hostvars, 'brokers') }}"
  # -> [{"name": "broker1", "address": "10.0.0.11", "port": 8883}, ...]

- name: Bridge connections of the bridge master
  ansible.builtin.debug:
    msg: "{{ groups | mosquitto_ha.cluster.bridge_connections(hostvars, inventory_hostname, 'brokers') }}"
  # -> [{"name": "bridge-broker1", "address": "10.0.0.11", "port": 8883,
  #      "local_clientid": "bridgemaster.bridge-broker1", "remote_clientid": "bridgemaster.bridge-broker1"}, ...]

- name: The same connections for a standby bridge master, which takes over the active one's sessions
  ansible.builtin.debug:
    msg: >-
      {{ groups | mosquitto_ha.cluster.bridge_connections(hostvars, 'bridgemaster2', 'brokers',
         clientid_base='bridgemaster') }}

- name: This load balancer's VRRP role and its peers
  ansible.builtin.debug:
    msg: "{{ groups | mosquitto_ha.cluster.vrrp_peers(hostvars, inventory_hostname, 'loadbalancers') }}"
  # -> {"priority": 150, "state": "MASTER", "address": "10.0.0.31", "peers": ["10.0.0.32"]}

- name: What changes in the settings both load balancers share (running configuration -> new one)
  ansible.builtin.debug:
    msg: "{{ running_conf | mosquitto_ha.cluster.vrrp_pair
             | mosquitto_ha.cluster.vrrp_pair_changes(new_conf | mosquitto_ha.cluster.vrrp_pair) }}"
  # -> ["vip_vrrp_version: 2 -> 3", "vip_advert_int: 1 -> 0.2", "vip_auth_pass: authentication off"]

- name: Addresses of every member of three groups
  ansible.builtin.debug:
    msg: "{{ ['brokers', 'bridge'] | map('mosquitto_ha.cluster.group_addresses', groups, hostvars) | flatten }}"

- name: Load balancer addresses that are not in the VIP's subnet (empty when all are)
  ansible.builtin.debug:
    msg: "{{ 'loadbalancers' | mosquitto_ha.cluster.group_addresses(groups, hostvars)
             | mosquitto_ha.cluster.outside_subnet(cluster_vip, cluster_vip_prefix) }}"

- name: One host's cluster address
  ansible.builtin.debug:
    msg: "{{ hostvars | mosquitto_ha.cluster.host_address('broker1') }}"

- name: Where a host keeps the cluster CA, its certificate and its key
  ansible.builtin.debug:
    msg: "{{ cluster_pki_dir | mosquitto_ha.cluster.pki_files(inventory_hostname) }}"
  # -> {"ca": "/etc/mosquitto-ha/pki/ca.crt", "cert": "/etc/mosquitto-ha/pki/broker1.crt",
  #     "key": "/etc/mosquitto-ha/pki/broker1.key"}

- name: What this host is in the cluster
  ansible.builtin.debug:
    msg: >-
      {{ groups | mosquitto_ha.cluster.host_kinds(inventory_hostname, cluster_broker_group, cluster_bridge_group,
                                                   cluster_lb_group) }}
  # -> {"broker": false, "bridge": true, "mosquitto": true, "loadbalancer": false, "bridge_pair": true}
"""

RETURN = r"""
_value:
  description:
    - C(broker_endpoints) returns a list of dicts with keys C(name), C(address) and C(port), in inventory order.
    - C(bridge_connections) returns the same list with C(name) replaced by a connection name
      (C(bridge-<host>), sanitised) and the keys C(host), C(local_clientid) and C(remote_clientid) added.
    - C(vrrp_peers) returns a dict with C(priority), C(state), C(address) and C(peers) (the other members' addresses).
    - C(vrrp_pair) (input the text of a keepalived.conf) returns a dict with C(vrrp_version), C(virtual_router_id),
      C(advert_int), C(auth) (a short digest of the password, or null) and C(unicast); an empty text gives an
      empty dict. C(vrrp_pair_changes) (input the running settings, then the new ones) returns a list of lines,
      one per changed setting, named by its variable and without secret values; empty when the input is empty.
    - C(host_address) returns one address as a string; C(group_addresses) (input a group name, then
      C(groups) and C(hostvars)) the addresses of a group's members.
    - C(outside_subnet) (input a list of addresses, then an address and a prefix length) returns the addresses
      that are not in that address's IPv4 network, in input order.
    - C(pki_files) (input the host PKI directory, then the host's inventory name) returns a dict with the paths
      C(ca), C(cert) and C(key) that the pki role writes and every daemon reads.
    - C(host_kinds) returns a dict of booleans, C(broker) (in the brokers' group), C(bridge) (in the bridge
      masters' group), C(mosquitto) (either, so the host runs mosquitto), C(loadbalancer) (in the load balancers'
      group) and C(bridge_pair) (a bridge master whose group has more than one member, so keepalived decides
      which of them runs mosquitto). A group missing from the inventory counts as empty.
  type: raw
"""

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _is_ipv4(value):
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        return False
    return True


def _hostvars_of(hostvars, host):
    try:
        return hostvars[host]
    except KeyError as exc:
        raise AnsibleFilterError(f"host {host!r} is in a cluster group but has no hostvars") from exc


def host_address(hostvars, host, address_var="cluster_address"):
    """The address other cluster members use to reach ``host``."""
    hv = _hostvars_of(hostvars, host)
    explicit = hv.get(address_var)
    if explicit:
        if not _is_ipv4(explicit):
            raise AnsibleFilterError(f"{address_var} of host {host!r} is {explicit!r}, which is not an IPv4 address")
        return str(explicit)
    facts = hv.get("ansible_facts") or {}
    default_ipv4 = facts.get("default_ipv4") or hv.get("ansible_default_ipv4") or {}
    if default_ipv4.get("address"):
        return str(default_ipv4["address"])
    ansible_host = hv.get("ansible_host")
    if ansible_host and _is_ipv4(ansible_host):
        return str(ansible_host)
    raise AnsibleFilterError(
        f"cannot work out an address for host {host!r}: set {address_var} for it, give it an IPv4 ansible_host, "
        "or gather its facts before this point"
    )


def _group_members(groups, group):
    members = groups.get(group)
    if not members:
        raise AnsibleFilterError(f"inventory group {group!r} is missing or empty")
    return list(members)


def _port(value, host, port_var):
    try:
        port = int(value)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{port_var} of host {host!r} is {value!r}, not a port number") from exc
    if not 1 <= port <= 65535:
        raise AnsibleFilterError(f"{port_var} of host {host!r} is {port}, outside 1-65535")
    return port


def group_addresses(group, groups, hostvars, address_var="cluster_address"):
    """The cluster addresses of the members of ``group`` (group name as input, for use with ``map``)."""
    return [host_address(hostvars, host, address_var) for host in _group_members(groups, group)]


def broker_endpoints(groups, hostvars, group="brokers", port_var="cluster_broker_port", default_port=8883,
                     address_var="cluster_address"):
    """One endpoint (name, address, port) per member of ``group``, in inventory order."""
    endpoints = []
    seen = {}
    for host in _group_members(groups, group):
        hv = _hostvars_of(hostvars, host)
        address = host_address(hostvars, host, address_var)
        port = _port(hv.get(port_var, default_port), host, port_var)
        key = (address, port)
        if key in seen:
            raise AnsibleFilterError(
                f"hosts {seen[key]!r} and {host!r} in group {group!r} both resolve to {address}:{port}; "
                f"give each a distinct {address_var}"
            )
        seen[key] = host
        endpoints.append({"name": host, "address": address, "port": port})
    return endpoints


def bridge_connections(groups, hostvars, bridge_host, group="brokers", port_var="cluster_broker_port",
                       default_port=8883, address_var="cluster_address", prefix="bridge-", clientid_base=None):
    """One bridge connection per broker, with names and client ids unique across the cluster. The client ids
    start with ``clientid_base`` (default: ``bridge_host``): an active and a standby bridge master given the same
    base present the same client ids, so each broker keeps one bridge session whichever of them holds it."""
    connections = []
    names = {}
    bridge_id = _NAME_UNSAFE.sub("_", str(clientid_base or bridge_host))
    for endpoint in broker_endpoints(groups, hostvars, group, port_var, default_port, address_var):
        host = endpoint["name"]
        if host == bridge_host:
            raise AnsibleFilterError(f"host {host!r} is both the bridge master and a broker; it cannot bridge to itself")
        name = prefix + _NAME_UNSAFE.sub("_", host)
        if name in names:
            raise AnsibleFilterError(
                f"brokers {names[name]!r} and {host!r} give the same bridge connection name {name!r}; rename one"
            )
        names[name] = host
        clientid = f"{bridge_id}.{name}"
        connections.append({
            "name": name,
            "host": host,
            "address": endpoint["address"],
            "port": endpoint["port"],
            "local_clientid": clientid,
            "remote_clientid": clientid,
        })
    return connections


def vrrp_peers(groups, hostvars, host, group="loadbalancers", priority_var="vip_priority", base_priority=150,
               step=50, address_var="cluster_address"):
    """This host's VRRP priority and initial state, and the addresses of the other members of ``group``."""
    members = _group_members(groups, group)
    if host not in members:
        raise AnsibleFilterError(f"host {host!r} is not in group {group!r}")
    priorities = {}
    for index, member in enumerate(members):
        hv = _hostvars_of(hostvars, member)
        value = hv.get(priority_var)
        if value is None or value == "":
            value = base_priority - index * step
        try:
            priority = int(value)
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"{priority_var} of host {member!r} is {value!r}, not a number") from exc
        if not 1 <= priority <= 254:
            raise AnsibleFilterError(f"{priority_var} of host {member!r} is {priority}, outside 1-254")
        priorities[member] = priority
    by_priority = {}
    for member, priority in priorities.items():
        if priority in by_priority:
            raise AnsibleFilterError(
                f"hosts {by_priority[priority]!r} and {member!r} have the same VRRP priority {priority}; "
                f"set distinct {priority_var} values"
            )
        by_priority[priority] = member
    top = max(priorities.values())
    return {
        "priority": priorities[host],
        "state": "MASTER" if priorities[host] == top else "BACKUP",
        "address": host_address(hostvars, host, address_var),
        "peers": [host_address(hostvars, m, address_var) for m in members if m != host],
    }


# The keepalived settings both load balancers must share: a node with other values does not accept the
# other's adverts, and both would hold the VIP.
_PAIR_SETTINGS = {
    "vrrp_version": (r"^\s*vrrp_version\s+(\S+)", "vip_vrrp_version"),
    "virtual_router_id": (r"^\s*virtual_router_id\s+(\S+)", "vip_virtual_router_id"),
    "advert_int": (r"^\s*advert_int\s+(\S+)", "vip_advert_int"),
    "auth": (r"^\s*auth_pass\s+(\S+)", "vip_auth_pass"),
    "unicast": (r"^\s*(unicast_src_ip)\s", "vip_unicast"),
}


def vrrp_pair(conf):
    """The VRRP settings both load balancers share, read from a keepalived.conf text ({} for an empty text). The
    password is kept as a short digest, so the result can be shown."""
    if not conf:
        return {}
    if not isinstance(conf, str):
        raise AnsibleFilterError(f"vrrp_pair: expected the text of keepalived.conf, got {type(conf).__name__}")
    result = {}
    for key, (pattern, _var) in _PAIR_SETTINGS.items():
        match = re.search(pattern, conf, flags=re.M)
        value = match.group(1) if match else None
        if key == "vrrp_version":
            value = int(value) if value else 2  # keepalived's default
        elif key == "virtual_router_id":
            value = int(value) if value else None
        elif key == "advert_int":
            value = float(value) if value else 1.0  # keepalived's default
        elif key == "auth":
            value = hashlib.sha256(value.encode()).hexdigest()[:12] if value else None
        else:
            value = bool(value)
        result[key] = value
    return result


def vrrp_pair_changes(old, new):
    """What changes between two vrrp_pair results, one line per setting (no secret values); [] when ``old`` is
    empty (nothing runs yet) or nothing shared changes."""
    if not old:
        return []
    changes = []
    for key, (_pattern, var) in _PAIR_SETTINGS.items():
        if old.get(key) == (new or {}).get(key):
            continue
        if key == "auth":
            changes.append(f"{var}: the VRRP password changes" if old.get(key) and new.get(key) else
                           f"{var}: authentication {'on' if new.get(key) else 'off'}")
        else:
            changes.append(f"{var}: {_show(old.get(key))} -> {_show(new.get(key))}")
    return changes


def _show(value):
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def outside_subnet(addresses, address, prefix):
    """The members of ``addresses`` that are not in the IPv4 network ``address``/``prefix``."""
    try:
        network = ipaddress.IPv4Network(f"{address}/{int(prefix)}", strict=False)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"outside_subnet: {address}/{prefix} is not an IPv4 network: {exc}") from exc
    outside = []
    for item in addresses:
        try:
            inside = ipaddress.IPv4Address(str(item)) in network
        except ValueError:
            inside = False
        if not inside:
            outside.append(item)
    return outside


def pki_files(pki_dir, host):
    """The files the pki role writes on ``host``: the cluster CA, the host's certificate and its key."""
    if not isinstance(pki_dir, str) or not pki_dir.startswith("/"):
        raise AnsibleFilterError(f"pki_files: the PKI directory must be an absolute path, got {pki_dir!r}")
    if not isinstance(host, str) or not host or "/" in host:
        raise AnsibleFilterError(f"pki_files: {host!r} is not an inventory host name")
    base = pki_dir.rstrip("/")
    return {"ca": f"{base}/ca.crt", "cert": f"{base}/{host}.crt", "key": f"{base}/{host}.key"}


def _members(groups, group):
    members = (groups or {}).get(group) if group else None
    return list(members or [])


def host_kinds(groups, host, broker_group="brokers", bridge_group="bridge", lb_group="loadbalancers"):
    """What ``host`` is in the cluster, from its groups: the one definition every role reads."""
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError(f"host_kinds: {host!r} is not an inventory host name")
    bridges = _members(groups, bridge_group)
    broker = host in _members(groups, broker_group)
    bridge = host in bridges
    return {
        "broker": broker,
        "bridge": bridge,
        "mosquitto": broker or bridge,
        "loadbalancer": host in _members(groups, lb_group),
        "bridge_pair": bridge and len(bridges) > 1,
    }


class FilterModule:
    """Cluster topology filters."""

    def filters(self):
        return {
            "broker_endpoints": broker_endpoints,
            "bridge_connections": bridge_connections,
            "vrrp_peers": vrrp_peers,
            "vrrp_pair": vrrp_pair,
            "vrrp_pair_changes": vrrp_pair_changes,
            "host_address": host_address,
            "group_addresses": group_addresses,
            "outside_subnet": outside_subnet,
            "pki_files": pki_files,
            "host_kinds": host_kinds,
        }
