"""Bad input is refused by the preflight play, with a message saying what to change, before any host is
touched. Each case runs the real playbooks/site.yml against an inventory of local-connection hosts."""

import os
import pathlib
import re
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]

GOOD_GROUPS = {
    "brokers": ["broker1", "broker2"],
    "bridge": ["bridge1"],
    "loadbalancers": ["lb1", "lb2"],
}
GOOD_VARS = {"cluster_vip": "192.0.2.250"}


def inventory(groups, group_vars, host_vars=None):
    # Every host gets its own cluster address in the VIP's subnet (they all run locally).
    names = sorted({h for hosts in groups.values() for h in hosts})
    addresses = {h: {"cluster_address": f"192.0.2.{10 + i}"} for i, h in enumerate(names)}
    for host, hvars in (host_vars or {}).items():
        addresses.setdefault(host, {}).update(hvars)
    children = {g: {"hosts": {h: addresses[h] for h in hosts}} for g, hosts in groups.items()}
    return {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                             **group_vars},
                    "children": children}}


def run_site(tmp_path, groups, group_vars, *extra, playbook="site.yml", host_vars=None):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory(groups, group_vars, host_vars)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run(["ansible-playbook", "-i", str(inv), str(ROOT / "playbooks" / playbook), *extra],
                          capture_output=True, text=True, env=env, timeout=300, check=False, cwd=ROOT)
    return proc.returncode, proc.stdout + proc.stderr


CASES = {
    "no brokers": (dict(GOOD_GROUPS, brokers=[]), GOOD_VARS,
                   r"at least one host in group 'brokers' \(found 0\)"),
    "one load balancer": (dict(GOOD_GROUPS, loadbalancers=["lb1"]), GOOD_VARS,
                          r"exactly two in\s+'loadbalancers' \(found 1\)"),
    "three load balancers": (dict(GOOD_GROUPS, loadbalancers=["lb1", "lb2", "lb3"]), GOOD_VARS,
                             r"exactly two in\s+'loadbalancers' \(found 3\)"),
    "three bridge masters": (dict(GOOD_GROUPS, bridge=["bridge1", "bridge2", "bridge3"]), GOOD_VARS,
                             r"one or two in 'bridge'\s+\(found 3\)"),
    "host in two groups": (dict(GOOD_GROUPS, loadbalancers=["lb1", "broker1"]), GOOD_VARS,
                           r"Hosts broker1 are in more than one of the groups"),
    "no VIP": (GOOD_GROUPS, {}, r"cluster_vip must be the virtual IPv4 address"),
    "VIP not IPv4": (GOOD_GROUPS, {"cluster_vip": "mqtt.example.com"},
                     r"cluster_vip must be the virtual IPv4 address.*mqtt.example.com"),
    "VIP out of range": (GOOD_GROUPS, {"cluster_vip": "10.0.0.300"}, r"cluster_vip must be the virtual IPv4 address"),
    "port out of range": (GOOD_GROUPS, dict(GOOD_VARS, cluster_port=70000),
                          r"cluster_port must be a port number from 1 to 65535; got \"70000\""),
    # The cluster role's argument spec refuses it before the preflight asserts run.
    "port not an integer": (GOOD_GROUPS, dict(GOOD_VARS, cluster_broker_port="88x3"),
                            r"argument 'cluster_broker_port' is of type str and we were unable to convert to int"),
    "VIP outside the load balancers' subnet": (
        GOOD_GROUPS, {"cluster_vip": "198.51.100.7"},
        r"cluster_vip 198.51.100.7/24 is not in the subnet of the load balancers 192.0.2.\d+, 192.0.2.\d+"),
    "VIP is a host's address": (GOOD_GROUPS, {"cluster_vip": "192.0.2.10"},
                                r"cluster_vip 192.0.2.10 is the address of a cluster host"),
    "virtual_router_id out of range": (GOOD_GROUPS, dict(GOOD_VARS, vip_virtual_router_id=300),
                                       r"vip_virtual_router_id must be 1-255 \(got 300\)"),
    "watchdog interval not positive": (GOOD_GROUPS, dict(GOOD_VARS, watchdog_interval=0),
                                       r"watchdog_interval must be > 0 \(got 0\)"),
    "CA file that does not exist": (
        GOOD_GROUPS, dict(GOOD_VARS, pki_ca_cert_path="/nonexistent/ca.crt", pki_ca_key_path="/nonexistent/ca.key"),
        r"The CA file /nonexistent/ca.crt does not exist on the controller; fix pki_ca_cert_path"),
    "CA certificate without its key": (GOOD_GROUPS, dict(GOOD_VARS, pki_ca_cert_path="/nonexistent/ca.crt"),
                                       r"set both pki_ca_cert_path and pki_ca_key_path"),
    "user without a password": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "sensor-1", "password": "s3cret-one"},
                                                   {"username": "sensor-2"}]),
        r"needs a username and a non-empty password \(from the vault\); sensor-2 has none"),
    "user with an empty password": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "sensor-1", "password": ""}]),
        r"sensor-1 has none"),
    "user name with a colon": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "bad:name", "password": "x-secret"}]),
        r"User names in broker_users must be unique, hold no ':' or whitespace"),
    "two users with one name": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "dup", "password": "a-secret"},
                                                   {"username": "dup", "password": "b-secret"}]),
        r"User names in broker_users must be unique"),
    "user with the watchdog's name": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "mosquitto-ha-watchdog", "password": "x-secret"}]),
        r"nor the watchdog's user\s+'mosquitto-ha-watchdog' \(cluster_watchdog_username\)"),
    "ACL entry for an unknown user": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "sensor-1", "password": "s3cret-one"}],
                          broker_acl=[{"username": "sensor-1", "access": "write", "topic": "sensors/1/#"},
                                      {"username": "sensor-9", "access": "read", "topic": "sensors/#"}]),
        r"broker_acl has rules for sensor-9, which is not in broker_users"),
    "ACL entry with a bad access": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_users=[{"username": "sensor-1", "password": "s3cret-one"}],
                          broker_acl=[{"username": "sensor-1", "access": "publish", "topic": "sensors/1/#"}]),
        r"ACL rules need an access of read, write, readwrite, deny"),
    "identity as username without required certificates": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_use_identity_as_username=True),
        r"broker_use_identity_as_username takes the user name from the client certificate, so it needs\s+"
        r"broker_require_certificate: true"),
    # A boolean given as a string (as `-e name=true` gives it) is read as a boolean, not refused by the
    # conditional's type check with a message that does not say what to change.
    "identity as username as a string, without required certificates": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_use_identity_as_username="true", broker_require_certificate="false"),
        r"broker_use_identity_as_username takes the user name from the client certificate, so it needs\s+"
        r"broker_require_certificate: true"),
    "plaintext listener on a public address": (
        GOOD_GROUPS, dict(GOOD_VARS, broker_plain_listener=True, broker_plain_bind_address="0.0.0.0"),
        r"The plaintext listener \(broker_plain_listener\) binds to the loopback address only.*got \"0.0.0.0\""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_inventory_is_refused_before_any_change(tmp_path, case):
    groups, group_vars, message = CASES[case]
    rc, output = run_site(tmp_path, groups, group_vars)
    assert rc != 0, output[-3000:]
    flat = re.sub(r"\s+", " ", output)
    assert re.search(re.sub(r"\\s\+", " ", message).replace(" ", r"\s*"), flat), output[-3000:]
    # Nothing past the preflight play ran, and nothing was changed.
    assert "PLAY [Brokers" not in output, output[-3000:]
    assert re.search(r"changed=[1-9]", output) is None, output[-3000:]


SCALE_CASES = {
    "add: no new_brokers group": ("add_broker.yml", GOOD_GROUPS, r"Group 'new_brokers' is empty or missing"),
    "add: new broker outside the broker group": (
        "add_broker.yml", dict(GOOD_GROUPS, new_brokers=["broker9"]),
        r"Not in the broker group: broker9"),
    "add: new broker that is a load balancer": (
        "add_broker.yml", dict(GOOD_GROUPS, brokers=["broker1", "broker2", "lb2"], new_brokers=["lb2"]),
        r"also a load balancer or the bridge master: lb2"),
    "remove: no retiring_brokers group": ("remove_broker.yml", GOOD_GROUPS,
                                          r"Group 'retiring_brokers' is empty or missing"),
    "remove: retiring broker still in the broker group": (
        "remove_broker.yml", dict(GOOD_GROUPS, retiring_brokers=["broker2"]),
        r"broker2 are still in the broker, bridge or load balancer group"),
    "remove: the last broker": (
        "remove_broker.yml", dict(GOOD_GROUPS, brokers=[], retiring_brokers=["broker1"]),
        r"would leave no broker in the cluster"),
}


@pytest.mark.parametrize("case", list(SCALE_CASES))
def test_bad_scaling_request_is_refused_before_any_change(tmp_path, case):
    playbook, groups, message = SCALE_CASES[case]
    rc, output = run_site(tmp_path, groups, GOOD_VARS, playbook=playbook)
    assert rc != 0, output[-3000:]
    assert re.search(message, re.sub(r"\s+", " ", output)), output[-3000:]
    assert "PLAY [Preflight" not in output, output[-3000:]
    assert re.search(r"changed=[1-9]", output) is None, output[-3000:]
