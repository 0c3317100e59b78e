"""Bad input is refused by the preflight, with a message saying what to change, before any host is touched.

Each case runs a real playbook (site.yml, add_broker.yml, remove_broker.yml, or preflight.yml for inventories that
must pass) against an inventory of local-connection hosts. The processes run concurrently. The values of every
host are checked on the controller in one task, before any host is contacted: cases whose bad value sits in one
host's variables share a process, one host each, and each asserts the message that names its variable and host.
"""

import atexit
import concurrent.futures
import dataclasses
import datetime
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
WORKERS = int(os.environ.get("PREFLIGHT_WORKERS", "4"))

GOOD_GROUPS = {
    "brokers": ["broker1", "broker2"],
    "bridge": ["bridge1"],
    "loadbalancers": ["lb1", "lb2"],
}
HOSTS = ["broker1", "broker2", "bridge1", "lb1", "lb2"]
GOOD_VARS = {"cluster_vip": "192.0.2.250"}

# Plays that change hosts; none may start when the preflight refuses.
CHANGING_PLAYS = ("PLAY [Brokers", "PLAY [Bridge master]", "PLAY [Load balancers", "PLAY [Watchdog",
                  "PLAY [New brokers", "PLAY [Let the clients", "PLAY [Stop the retired",
                  "PLAY [Uninstall the cluster")


@dataclasses.dataclass
class Case:
    message: str
    groups: dict = dataclasses.field(default_factory=lambda: GOOD_GROUPS)
    group_vars: dict = dataclasses.field(default_factory=lambda: GOOD_VARS)
    host_vars: dict = dataclasses.field(default_factory=dict)
    playbook: str = "site.yml"
    extra: tuple = ()
    passes: bool = False  # the playbook must succeed (and print the message)
    preflight_seen: bool = True  # False: refused before the preflight play


def inventory(groups, group_vars, host_vars):
    names = sorted({h for hosts in groups.values() for h in hosts})
    hvars = {h: {"cluster_address": f"192.0.2.{10 + i}"} for i, h in enumerate(names)}
    for host, values in host_vars.items():
        hvars.setdefault(host, {}).update(values)
    children = {g: {"hosts": {h: hvars[h] for h in hosts}} for g, hosts in groups.items()}
    return {"all": {"vars": {"ansible_connection": "local",
                             "ansible_python_interpreter": "{{ ansible_playbook_python }}", **group_vars},
                    "children": children}}


def run(workdir, case):
    inv = workdir / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory(case.groups, case.group_vars, case.host_vars)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    # The test machine may run without systemd as PID 1 (a container): the service manager the platform check
    # reads is stood in (tests/preflight/test_platform.py tests that check itself).
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inv), str(ROOT / "playbooks" / case.playbook),
                           "-e", '{"__cluster_service_mgr": "systemd"}', *case.extra], capture_output=True, text=True, env=env, timeout=600, check=False,
                          cwd=ROOT)
    return proc.returncode, proc.stdout + proc.stderr


# --- CA material for the bring-your-own-CA cases --------------------------------------------------------------

CA_DIR = pathlib.Path(tempfile.mkdtemp(prefix="mhv-preflight-ca-"))
atexit.register(shutil.rmtree, CA_DIR, True)


def _write_ca_material():
    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject_key, issuer_key, name, is_ca):
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
                .sign(issuer_key, hashes.SHA256()))

    ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM
    for name, key, password in (("ca.key", ca_key, None), ("other.key", other_key, None),
                                ("ca-locked.key", ca_key, b"right-passphrase")):
        enc = (serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
        (CA_DIR / name).write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, enc))
    (CA_DIR / "ca.crt").write_bytes(cert(ca_key, ca_key, "test CA", True).public_bytes(pem))
    (CA_DIR / "leaf.crt").write_bytes(cert(other_key, other_key, "not a CA", False).public_bytes(pem))


_write_ca_material()


def ca_vars(cert, key, **more):
    return dict(GOOD_VARS, pki_ca_cert_path=str(CA_DIR / cert), pki_ca_key_path=str(CA_DIR / key), **more)


def v(**kw):
    return dict(GOOD_VARS, **kw)


# --- Cases refused by the per-host value check: (host, variables of that host, message) --------------------------
# The message of a value check always names the host; cases are batched one per host.

VALUE_CASES = {
    # Values that would add lines to mosquitto's ACL or password files.
    "certificate user with a line break": (
        "broker1", {"broker_certificate_users": ["alice\npattern readwrite #"]},
        r"broker_certificate_users on broker1 holds a line break or control character at \[0\]"),
    "bridge user name with a line break": (
        "bridge1", {"cluster_bridge_username": "bridge1\ntopic readwrite #"},
        r"cluster_bridge_username on bridge1 holds a line break or control character"),
    "watchdog user name with a blank": (
        "broker2", {"cluster_watchdog_username": "watch dog"},
        r"cluster_watchdog_username on broker2 holds a blank or ':'"),
    "broker user name with a line break": (
        "lb1", {"broker_users": [{"username": "bob\ntopic readwrite #", "password": "pw-long-enough"}]},
        r"broker_users\[0\] has the username 'bob\\ntopic readwrite #', which holds a line break .*\(on lb1\)"),
    "broker user name with a colon": (
        "lb2", {"broker_users": [{"username": "bad:name", "password": "x-secret"}]},
        r"broker_users\[0\] has the username 'bad:name', which holds a blank or ':'.*\(on lb2\)"),
    "broker user name starting with a hash": (
        "broker1", {"broker_users": [{"username": "#root", "password": "x-secret"}]},
        r"which starts with '#' \(a comment in the ACL file\) \(on broker1\)"),
    "broker password with a line break": (
        "broker2", {"broker_users": [{"username": "carol", "password": "pw\nuser eve"}]},
        r"the password of broker_users\[0\] \('carol'\) holds a line break or control character \(on broker2\)"),
    "bridge password with a line break": (
        "bridge1", {"cluster_bridge_password": "s3cret\nconnection evil"},
        r"cluster_bridge_password on bridge1 holds a line break or control character"),
    "watchdog password with trailing blank": (
        "lb1", {"cluster_watchdog_password": "s3cret "},
        r"cluster_watchdog_password on lb1 starts or ends with a blank"),
    "ACL topic with a line break": (
        "lb2", {"broker_acl": [{"username": "u1", "access": "read", "topic": "a/#\npattern readwrite #"}]},
        r"broker_acl\[0\] has the topic .*which holds a line break or control character \(on lb2\)"),
    "ACL topic with # in the middle": (
        "broker1", {"broker_acl": [{"username": "u1", "access": "read", "topic": "a/#/b"}]},
        r"broker_acl\[0\] has the topic 'a/#/b', which uses '#' other than as the whole last level \(on broker1\)"),
    "ACL topic with + inside a level": (
        "broker2", {"broker_acl_anonymous": [{"access": "read", "topic": "a/b+/c"}]},
        r"broker_acl_anonymous\[0\] has the topic 'a/b\+/c', which uses '\+' other than as a whole level "
        r"\(on broker2\)"),
    "ACL topic with a blank": (
        "bridge1", {"broker_acl_patterns": [{"access": "read", "topic": "a b"}]},
        r"broker_acl_patterns\[0\] has the topic 'a b', which holds a blank .*\(on bridge1\)"),
    "ACL user rule with %u": (
        "lb1", {"broker_acl": [{"username": "u1", "access": "read", "topic": "users/%u/#"}]},
        r"uses %u or %c, which only broker_acl_patterns substitute \(on lb1\)"),
    "ACL rule with a bad access": (
        "lb2", {"broker_acl": [{"username": "u1", "access": "publish", "topic": "a/#"}]},
        r"broker_acl\[0\] needs an access of read, write, readwrite, deny; got 'publish' \(on lb2\)"),
    "bridge topic with a blank": (
        "bridge1", {"bridge_topic": "# both 2\ntopic x"},
        r"bridge_topic on bridge1 holds a line break or control character"),
    "bridge topic that is no filter": (
        "broker1", {"bridge_topic": "a/#/b"},
        r"bridge_topic on broker1 is not a valid MQTT topic filter: it uses '#' other than as the whole last level"),
    # Values that would add directives to mosquitto.conf.
    "extra config opening a listener": (
        "broker1", {"broker_extra_config": "listener 1883 0.0.0.0\nprotocol mqtt"},
        r"broker_extra_config sets 'listener', which the roles manage .*\(on broker1\)"),
    "extra config allowing anonymous clients": (
        "broker2", {"broker_extra_config": "allow_anonymous true"},
        r"broker_extra_config sets 'allow_anonymous': use broker_allow_anonymous .*\(on broker2\)"),
    "extra config replacing the password file": (
        "bridge1", {"broker_extra_config": "password_file /tmp/passwd"},
        r"broker_extra_config sets 'password_file', which the roles manage.*\(on bridge1\)"),
    "extra config replacing the ACL file": (
        "lb1", {"broker_extra_config": "  acl_file /tmp/acl"},
        r"broker_extra_config sets 'acl_file'.*\(on lb1\)"),
    "extra config loading a plugin option": (
        "lb2", {"broker_extra_config": "plugin_opt_anything x"},
        r"broker_extra_config sets 'plugin_opt_anything'.*\(on lb2\)"),
    "extra config with a control character": (
        "broker1", {"broker_extra_config": "max_packet_size 1000\x07"},
        r"broker_extra_config holds a control character other than a line break \(on broker1\)"),
    "extra config opt-in still refuses control characters": (
        "broker2", {"broker_extra_config": "listener 1884\x00", "broker_extra_config_unchecked": True},
        r"broker_extra_config on broker2 holds a control character"),
    # TLS cipher policy of the brokers' listeners.
    "TLS cipher list with a blank": (
        "broker1", {"broker_tls_ciphers": ["ECDHE-ECDSA-AES128-GCM-SHA256 AES128-SHA"]},
        r"broker_tls_ciphers on broker1 must be a list of OpenSSL cipher names .*no blank, quote or '#'; "
        r"refused: \['ECDHE-ECDSA-AES128-GCM-SHA256 AES128-SHA'\]"),
    "TLS cipher with a line break": (
        "broker2", {"broker_tls_ciphers": ["ECDHE-ECDSA-AES128-GCM-SHA256\nlistener 1883"]},
        r"broker_tls_ciphers on broker2 holds a line break or control character at \[0\]"),
    "TLS cipher list that is empty": (
        "lb1", {"broker_tls_ciphers": []},
        r"broker_tls_ciphers on lb1 must be a non-empty list \(an explicit TLS policy\)"),
    "TLS 1.3 cipher suite with a hash": (
        "bridge1", {"broker_tls_ciphers_tls13": ["TLS_AES_128_GCM_SHA256#TLS_AES_256_GCM_SHA384"]},
        r"broker_tls_ciphers_tls13 on bridge1 must be a list of TLS 1.3 cipher suite names of letters, digits, '_' "
        r"and ':'"),
    "TLS 1.3 cipher suite with a quote": (
        "lb2", {"broker_tls_ciphers_tls13": ['TLS_AES_128_GCM_SHA256"']},
        r"broker_tls_ciphers_tls13 on lb2 must be a list of TLS 1.3 cipher suite names"),
    "persistent client expiration with a line break": (
        "bridge1", {"broker_persistent_client_expiration": "14d\nlistener 1883"},
        r"broker_persistent_client_expiration on bridge1 holds a line break"),
    "persistent client expiration without a unit": (
        "lb1", {"broker_persistent_client_expiration": "forever"},
        r"broker_persistent_client_expiration on lb1 must be empty or a number and a unit h, d, w, m or y"),
    "log type with a line break": (
        "lb2", {"broker_log_types": ["error", "notice\nlistener 1883"]},
        r"broker_log_types on lb2 holds a line break or control character at \[1\]"),
    "unknown log type": (
        "broker1", {"broker_log_types": ["verbose"]},
        r"broker_log_types on broker1 must be a list of mosquitto log types .* refused: \['verbose'\]"),
    "persistence location with a blank": (
        "broker2", {"broker_persistence_location": "/var/lib/mosquitto data/"},
        r"broker_persistence_location on broker2 must be an absolute path"),
    "pki directory that is relative": (
        "bridge1", {"cluster_pki_dir": "etc/pki"},
        r"cluster_pki_dir on bridge1 must be an absolute path"),
    # Values that would add nginx directives.
    "hash key injecting an upstream server": (
        "lb1", {"loadbalancer_hash_key": "$remote_addr consistent;\n server 10.9.9.9:1883"},
        r"loadbalancer_hash_key on lb1 holds a line break"),
    "hash key with a semicolon": (
        "lb2", {"loadbalancer_hash_key": "$remote_addr; server 10.9.9.9:1883"},
        r"loadbalancer_hash_key on lb2 must be nginx variables .*no blank, ';', quote or brace"),
    "fail timeout with a semicolon": (
        "lb1", {"loadbalancer_fail_timeout": "10s; server 10.9.9.9:1883"},
        r"loadbalancer_fail_timeout on lb1 must be an nginx time such as 10s or 1m"),
    "worker processes with a semicolon": (
        "lb2", {"loadbalancer_worker_processes": "auto; user root"},
        r"loadbalancer_worker_processes on lb2 must be auto or a number"),
    "connect timeout closing a block": (
        "broker1", {"loadbalancer_connect_timeout": "3s }"},
        r"loadbalancer_connect_timeout on broker1 must be an nginx time such as 3s"),
    "proxy timeout with a hash": (
        "broker2", {"loadbalancer_proxy_timeout": "10m#"},
        r"loadbalancer_proxy_timeout on broker2 must be an nginx time such as 10m"),
    "listen address with a directive": (
        "lb1", {"loadbalancer_listen_address": "0.0.0.0; listen 1883"},
        r"loadbalancer_listen_address on lb1 must be an IPv4 address"),
    # Values that would break keepalived.conf.
    "VRRP password with ! and #": (
        "lb1", {"vip_auth_pass": "ab!c#d"},
        r"vip_auth_pass on lb1 must be 1 to 8 characters from letters, digits"),
    "VRRP password with a blank": (
        "lb2", {"vip_auth_pass": "ab cd"}, r"vip_auth_pass on lb2 must be 1 to 8 characters"),
    "VRRP password with a quote": (
        "broker1", {"vip_auth_pass": 'ab"cd'}, r"vip_auth_pass on broker1 must be 1 to 8 characters"),
    "VRRP password too long": (
        "broker2", {"vip_auth_pass": "123456789"}, r"vip_auth_pass on broker2 must be 1 to 8 characters"),
    "VIP interface with a blank": (
        "lb2", {"vip_interface": "eth0 dev lo"}, r"vip_interface on lb2 must be a network interface name"),
    "script user with a semicolon": (
        "lb1", {"vip_script_user": "root;"}, r"vip_script_user on lb1 must be a system user name"),
    "cluster name with a line break": (
        "broker1", {"cluster_name": "mqtt\nCN=evil"}, r"cluster_name on broker1 holds a line break"),
    "cluster name with a brace": (
        "broker2", {"cluster_name": "mqtt{ha}"}, r"cluster_name on broker2 must be letters, digits, blanks"),
    # Values that would break systemd units or the certificates.
    "watchdog unit with a slash": (
        "bridge1", {"watchdog_extra_services": [{"unit": "../../etc/evil.service"}]},
        r"watchdog_extra_services on bridge1 needs a systemd unit name per entry .*refused: '../../etc/evil.service'"),
    "watchdog unit without a type": (
        "lb1", {"watchdog_services": [{"unit": "nginx"}]}, r"watchdog_services on lb1 needs a systemd unit name"),
    "restart delay with a line break": (
        "lb2", {"cluster_systemd_restart_sec": "1\nExecStartPre=/bin/sh"},
        r"cluster_systemd_restart_sec on lb2 holds a line break"),
    "restart delay with a line break, deprecated name": (
        "broker1", {"watchdog_systemd_restart_sec": "1\nExecStartPre=/bin/sh"},
        r"watchdog_systemd_restart_sec on broker1 holds a line break"),
    "key owner with a line break": (
        "broker1", {"pki_key_owner": "mosquitto\n"}, r"pki_key_owner on broker1 holds a line break"),
    "extra SAN with a blank": (
        "broker2", {"pki_extra_sans": ["DNS:bad name"]},
        r"pki_extra_sans on broker2 must be a list of 'DNS:name' or 'IP:address' entries; refused: 'DNS:bad name'"),
    "extra SAN without a type": (
        "bridge1", {"pki_extra_sans": ["mqtt.example.org"]}, r"pki_extra_sans on bridge1 must be a list of 'DNS:name'"),
    "bridge restart timeout with a line break": (
        "bridge1", {"bridge_restart_timeout": "1 3\nconnection evil"},
        r"bridge_restart_timeout on bridge1 holds a line break"),
    # One boolean parser: the argument spec would read "true " as true, the templates as false.
    "boolean with a trailing blank": (
        "broker1", {"broker_require_certificate": "true "},
        r"broker_require_certificate on broker1 must be a boolean: true or false, with no blank or other word "
        r"\(got 'true '\)"),
    "boolean that is a sentence": (
        "broker2", {"broker_persistence": "yes please"}, r"broker_persistence on broker2 must be a boolean"),
    "boolean as a number other than 0 or 1": (
        "lb1", {"loadbalancer_reuseport": 2}, r"loadbalancer_reuseport on lb1 must be a boolean"),
    "opt-in that is not a boolean": (
        "lb2", {"broker_extra_config_unchecked": "sure"},
        r"broker_extra_config_unchecked on lb2 must be true or false"),
    # Names and addresses.
    "DNS name with a blank": (
        "broker1", {"cluster_dns_name": "mqtt example.org"}, r"cluster_dns_name on broker1 must be a DNS name"),
    "DNS name with a port": (
        "broker2", {"cluster_dns_name": "mqtt.example.org:8883"},
        r"cluster_dns_name on broker2 must be a DNS name .*no ':port'"),
    "ansible_host with a blank": (
        "bridge1", {"ansible_host": "bridge 1.example.org"},
        r"ansible_host on bridge1 must be an IP address or a host name"),
    "ansible_host with a port": (
        "lb1", {"ansible_host": "lb1.example.org:22"}, r"ansible_host on lb1 must be an IP address or a host name"),
    "cluster address that is not an address": (
        "lb2", {"cluster_address": "192.0.2.14; x"}, r"cluster_address on lb2 must be an IPv4 address"),
    "relative controller directory": (
        "broker1", {"cluster_local_dir": "secrets"},
        r"cluster_local_dir on broker1 must be an absolute controller path"),
    "relative CA certificate path": (
        "broker2", {"pki_ca_cert_path": "ca.crt", "pki_ca_key_path": "ca.key"},
        r"pki_ca_cert_path on broker2 must be an absolute controller path"),
    "relative extra CA certificate path": (
        "bridge1", {"pki_extra_ca_certs": ["old-ca.crt"]},
        r"pki_extra_ca_certs on bridge1 must be a list of absolute controller paths of CA certificates"),
}


# --- Cases with their own process -----------------------------------------------------------------------------

CASES = {
    # The inventory's groups, checked on the controller first.
    "no brokers": Case(r"at least one host in group 'brokers' \(found 0\)", groups=dict(GOOD_GROUPS, brokers=[])),
    "one load balancer": Case(r"exactly two in 'loadbalancers' \(found 1\)",
                              groups=dict(GOOD_GROUPS, loadbalancers=["lb1"])),
    "three load balancers": Case(r"exactly two in 'loadbalancers' \(found 3\)",
                                 groups=dict(GOOD_GROUPS, loadbalancers=["lb1", "lb2", "lb3"])),
    "three bridge masters": Case(r"one or two in 'bridge' \(found 3\)",
                                 groups=dict(GOOD_GROUPS, bridge=["bridge1", "bridge2", "bridge3"])),
    "empty bridge group": Case(r"one or two in 'bridge' \(found 0\)", groups=dict(GOOD_GROUPS, bridge=[])),
    "standby bridge pair on the load balancers' VRRP router id": Case(
        r"bridge_standby_router_id must be 1-255 and differ from the load balancers' vip_virtual_router_id "
        r"\(got 60 and 60\)", groups=dict(GOOD_GROUPS, bridge=["bridge1", "bridge2"]),
        group_vars=v(vip_virtual_router_id=60, bridge_standby_router_id=60)),
    "standby bridge pair advert interval finer than a centisecond": Case(
        r"bridge_standby_advert_int 0.01-40.95 s\s+in steps of 0.01 \(VRRP 3; got 0.125\)",
        groups=dict(GOOD_GROUPS, bridge=["bridge1", "bridge2"]), group_vars=v(bridge_standby_advert_int=0.125)),
    "standby bridge pair advert interval above 40.95": Case(
        r"in steps of 0.01 \(VRRP 3; got 41\)",
        groups=dict(GOOD_GROUPS, bridge=["bridge1", "bridge2"]), group_vars=v(bridge_standby_advert_int=41)),
    "host in two groups": Case(r"Hosts broker1 are in more than one of the groups",
                               groups=dict(GOOD_GROUPS, loadbalancers=["lb1", "broker1"])),
    "misspelled broker group": Case(
        r"cluster_broker_group is \"broker\", which is not a group of this inventory \(groups: bridge, brokers, "
        r"loadbalancers\)", extra=("-e", "cluster_broker_group=broker")),
    "group setting that is not a string": Case(
        r"cluster_lb_group is \"\[\]\", which is not a group of this inventory",
        extra=("-e", '{"cluster_lb_group": []}')),
    "host name with a blank": Case(
        r"inventory_hostname on broker 2 must be letters, digits, '.', '_' and '-' only \(no blank\)",
        groups=dict(GOOD_GROUPS, brokers=["broker1", "broker 2"])),
    # Addresses across the inventory.
    "two hosts with one ansible_host": Case(
        r"broker2 and lb1 resolve to the same address 198.51.100.5",
        host_vars={"broker2": {"ansible_host": "198.51.100.5"}, "lb1": {"ansible_host": "198.51.100.5"}}),
    "two hosts with one cluster address": Case(
        r"bridge1 and lb2 resolve to the same address 192.0.2.40",
        host_vars={"bridge1": {"cluster_address": "192.0.2.40"}, "lb2": {"cluster_address": "192.0.2.40"}}),
    "VIP is the subnet's network address": Case(
        r"cluster_vip 192.0.2.0 is the network address of 192.0.2.0/24; no host can hold it",
        group_vars={"cluster_vip": "192.0.2.0"}),
    "VIP is the subnet's broadcast address": Case(
        r"cluster_vip 192.0.2.255 is the broadcast address of 192.0.2.0/24",
        group_vars={"cluster_vip": "192.0.2.255"}),
    "no VIP": Case(r"cluster_vip must be the virtual IPv4 address", group_vars={}),
    "VIP not IPv4": Case(r"cluster_vip on broker1 must be the virtual IPv4 address .*\(got 'mqtt.example.com'\)",
                         group_vars={"cluster_vip": "mqtt.example.com"}),
    "VIP out of range": Case(r"cluster_vip on lb2 must be the virtual IPv4 address",
                             group_vars={"cluster_vip": "10.0.0.300"}),
    "VIP outside the load balancers' subnet": Case(
        r"cluster_vip 198.51.100.7/24 is not in the subnet of the load balancers 192.0.2.\d+, 192.0.2.\d+",
        group_vars={"cluster_vip": "198.51.100.7"}),
    "VIP is a host's address": Case(r"cluster_vip 192.0.2.10 is the address of a cluster host",
                                    group_vars={"cluster_vip": "192.0.2.10"}),
    "port out of range": Case(r"cluster_port must be a port number from 1 to 65535; got \"70000\"",
                              group_vars=v(cluster_port=70000)),
    # Types, by every role's argument spec.
    "port not an integer": Case(r"argument 'cluster_broker_port' is of type str and we were unable to convert to int",
                                group_vars=v(cluster_broker_port="88x3")),
    "broker TLS version not offered": Case(
        r"value of broker_tls_version must be one of: tlsv1.2, tlsv1.3, got: tlsv1.1",
        group_vars=v(broker_tls_version="tlsv1.1")),
    "bridge QoS out of range": Case(r"value of bridge_qos must be one of: 0, 1, 2, got: 3", group_vars=v(bridge_qos=3)),
    "worker connections not a number": Case(
        r"argument 'loadbalancer_worker_connections' is of type str and we were unable to convert to int",
        group_vars=v(loadbalancer_worker_connections="many")),
    "key type not offered": Case(r"value of pki_key_type must be one of: ECC, RSA, got: DSA",
                                 group_vars=v(pki_key_type="DSA")),
    "watchdog failures not a number": Case(
        r"argument 'watchdog_failures' is of type str and we were unable to convert to int",
        group_vars=v(watchdog_failures="two")),
    "VRRP advert interval not a number": Case(
        r"argument 'vip_advert_int' is of type str and we were unable to convert",
        group_vars=v(vip_advert_int="fast")),
    "plaintext listener on a public address": Case(
        r"value of broker_plain_bind_address must be one of: 127.0.0.1, ::1, localhost, got: 0.0.0.0",
        group_vars=v(broker_plain_listener=True, broker_plain_bind_address="0.0.0.0")),
    # Range and cross-setting rules of the roles.
    "virtual_router_id out of range": Case(r"vip_virtual_router_id must be 1-255 \(got 300\)",
                                           group_vars=v(vip_virtual_router_id=300)),
    # The VRRP advert interval family: VRRP 3 takes 0.01-40.95 in steps of 0.01, VRRP 2 whole seconds 1-255.
    "VRRP 2 with a sub-second advert interval": Case(
        r"vip_advert_int 0.01-40.95 in steps\s+of 0.01 with VRRP 3, a whole number 1-255 with VRRP 2 \(got 0.2 with VRRP 2\)",
        group_vars=v(vip_vrrp_version=2)),
    "VRRP 2 advert interval above 255": Case(r"\(got 256 with VRRP 2\)",
                                             group_vars=v(vip_vrrp_version=2, vip_advert_int=256)),
    "VRRP 3 advert interval below a centisecond": Case(r"\(got 0.005 with VRRP 3\)",
                                                       group_vars=v(vip_advert_int=0.005)),
    "VRRP 3 advert interval finer than a centisecond": Case(r"\(got 0.125 with VRRP 3\)",
                                                            group_vars=v(vip_advert_int=0.125)),
    "VRRP 3 advert interval above 40.95": Case(r"\(got 41 with VRRP 3\)", group_vars=v(vip_advert_int=41)),
    "VRRP advert interval negative": Case(r"\(got -1 with VRRP 3\)", group_vars=v(vip_advert_int=-1)),
    # Settings both load balancers must share, set on one of them only.
    "VRRP version on one load balancer only": Case(
        r"must share vip_vrrp_version, vip_advert_int,\s+vip_virtual_router_id and vip_unicast .* they differ: "
        r"lb1: vip_vrrp_version=2 vip_advert_int=1",
        host_vars={"lb1": {"vip_vrrp_version": 2, "vip_advert_int": 1}}),
    "VRRP router id on one load balancer only": Case(
        r"they differ: .*lb2: vip_vrrp_version=3 vip_advert_int=0.2 vip_virtual_router_id=52",
        host_vars={"lb2": {"vip_virtual_router_id": 52}}),
    "watchdog interval not positive": Case(r"watchdog_interval must be > 0 \(got 0\)", group_vars=v(watchdog_interval=0)),
    "watchdog stopped grace too short": Case(r"watchdog_stopped_grace 0 \(off\) or 0.1 to\s+60 \(got 0.05\)",
                                             group_vars=v(watchdog_stopped_grace=0.05)),
    "watchdog stopped grace negative": Case(r"watchdog_stopped_grace 0 \(off\) or 0.1 to\s+60 \(got -1\)",
                                            group_vars=v(watchdog_stopped_grace=-1)),
    "bridge keepalive too short": Case(r"bridge_keepalive_interval must be at least 5 \(got 2\)",
                                       group_vars=v(bridge_keepalive_interval=2)),
    # The argument spec requires the key; the broker's check refuses an empty password.
    "user without a password": Case(
        r"missing required arguments: password found in broker_users",
        group_vars=v(broker_users=[{"username": "sensor-1", "password": "s3cret-one"}, {"username": "sensor-2"}])),
    "user with an empty password": Case(r"sensor-1 has none",
                                        group_vars=v(broker_users=[{"username": "sensor-1", "password": ""}])),
    "two users with one name": Case(
        r"User names in broker_users must be unique",
        group_vars=v(broker_users=[{"username": "dup", "password": "a-secret"},
                                   {"username": "dup", "password": "b-secret"}])),
    "user with the watchdog's name": Case(
        r"nor the watchdog's user 'mosquitto-ha-watchdog' \(cluster_watchdog_username\)",
        group_vars=v(broker_users=[{"username": "mosquitto-ha-watchdog", "password": "x-secret"}])),
    "ACL entry for an unknown user": Case(
        r"broker_acl has rules for sensor-9, which is not in broker_users",
        group_vars=v(broker_users=[{"username": "sensor-1", "password": "s3cret-one"}],
                     broker_acl=[{"username": "sensor-1", "access": "write", "topic": "sensors/1/#"},
                                 {"username": "sensor-9", "access": "read", "topic": "sensors/#"}])),
    "identity as username without required certificates": Case(
        r"broker_use_identity_as_username takes the user name from the client certificate, so it needs "
        r"broker_require_certificate: true", group_vars=v(broker_use_identity_as_username=True)),
    # A boolean given as a canonical string (as `-e name=true` gives it) is read as a boolean.
    "identity as username as a string, without required certificates": Case(
        r"broker_use_identity_as_username takes the user name from the client certificate",
        group_vars=v(broker_use_identity_as_username="true", broker_require_certificate="false")),
    # The CA you bring, verified on the controller before any host gets it.
    "CA file that does not exist": Case(
        r"The CA file /nonexistent/ca.crt does not exist on the controller; fix pki_ca_cert_path",
        group_vars=v(pki_ca_cert_path="/nonexistent/ca.crt", pki_ca_key_path="/nonexistent/ca.key")),
    "CA certificate without its key": Case(r"set both pki_ca_cert_path and pki_ca_key_path",
                                           group_vars=v(pki_ca_cert_path="/nonexistent/ca.crt")),
    "CA certificate and key swapped": Case(
        rf"pki_ca_cert_path {CA_DIR}/ca.key is not a PEM CA certificate", group_vars=ca_vars("ca.key", "ca.crt")),
    "CA certificate that is no CA": Case(
        rf"pki_ca_cert_path {CA_DIR}/leaf.crt is not a PEM CA certificate", group_vars=ca_vars("leaf.crt", "other.key")),
    "CA key of another certificate": Case(
        rf"pki_ca_key_path {CA_DIR}/other.key is not the private key of the CA certificate",
        group_vars=ca_vars("ca.crt", "other.key")),
    "CA key with a wrong passphrase": Case(
        rf"pki_ca_key_path {CA_DIR}/ca-locked.key is not the private key of the CA certificate",
        group_vars=ca_vars("ca.crt", "ca-locked.key", pki_ca_key_passphrase="wrong-passphrase")),
    "extra CA certificate that is a key": Case(
        rf"pki_extra_ca_certs of broker1: {CA_DIR}/ca.key is not a readable PEM CA certificate",
        group_vars=v(pki_extra_ca_certs=[str(CA_DIR / "ca.key")])),
    "extra CA certificate that is no CA": Case(
        rf"pki_extra_ca_certs of lb2: {CA_DIR}/leaf.crt is not a readable PEM CA certificate",
        group_vars=v(pki_extra_ca_certs=[str(CA_DIR / "ca.crt"), str(CA_DIR / "leaf.crt")])),
    # Scale operations.
    "site with brokers waiting for add_broker": Case(
        r"broker3 is in group 'new_brokers': add new brokers with add_broker.yml",
        groups=dict(GOOD_GROUPS, brokers=["broker1", "broker2", "broker3"], new_brokers=["broker3"]),
        preflight_seen=False),
    "add: no new_brokers group": Case(r"Group 'new_brokers' is empty or missing", playbook="add_broker.yml",
                                      preflight_seen=False),
    "add: new broker outside the broker group": Case(
        r"Not in the broker group: broker9", playbook="add_broker.yml",
        groups=dict(GOOD_GROUPS, new_brokers=["broker9"]), preflight_seen=False),
    "add: new broker that is a load balancer": Case(
        r"also a load balancer or the bridge master: lb2", playbook="add_broker.yml",
        groups=dict(GOOD_GROUPS, brokers=["broker1", "broker2", "lb2"], new_brokers=["lb2"]), preflight_seen=False),
    "remove: no retiring_brokers group": Case(r"Group 'retiring_brokers' is empty or missing",
                                              playbook="remove_broker.yml", preflight_seen=False),
    "remove: misspelled group": Case(r"Group 'retiring' is empty or missing", playbook="remove_broker.yml",
                                     groups=dict(GOOD_GROUPS, retiring_brokers=["broker2"]),
                                     extra=("-e", "remove_broker_group=retiring"), preflight_seen=False),
    "remove: retiring broker still in the broker group": Case(
        r"broker2 are still in the broker, bridge or load balancer group", playbook="remove_broker.yml",
        groups=dict(GOOD_GROUPS, retiring_brokers=["broker2"]), preflight_seen=False),
    "remove: the bridge master": Case(
        r"bridge1 is the bridge master, not a broker: remove_broker.yml retires brokers only",
        playbook="remove_broker.yml", groups=dict(GOOD_GROUPS, retiring_brokers=["bridge1"]), preflight_seen=False),
    "remove: the last broker": Case(r"would leave no broker in the cluster", playbook="remove_broker.yml",
                                    groups=dict(GOOD_GROUPS, brokers=[], retiring_brokers=["broker1"]),
                                    preflight_seen=False),
    "remove: an empty bridge group": Case(
        r"one or two in 'bridge' \(found 0\)", playbook="remove_broker.yml",
        groups=dict(GOOD_GROUPS, bridge=[], brokers=["broker1"], retiring_brokers=["broker2"])),
    # These hosts never ran mosquitto: the bridge master has no connection to them.
    "remove: a host the cluster never provisioned": Case(
        r"broker2 has no bridge connection on bridge1, so it is not a provisioned broker of this cluster",
        playbook="remove_broker.yml", groups=dict(GOOD_GROUPS, brokers=["broker1"], retiring_brokers=["broker2"])),
    # A run narrowed with --tags or --skip-tags checks everything all the same.
    "site narrowed to one phase of a role": Case(
        r"value of broker_tls_version must be one of: tlsv1.2, tlsv1.3, got: tlsv1.1",
        group_vars=v(broker_tls_version="tlsv1.1"), extra=("--tags", "broker_configure")),
    "site narrowed to the VIP": Case(r"vip_virtual_router_id must be 1-255 \(got 300\)",
                                     group_vars=v(vip_virtual_router_id=300), extra=("--tags", "vip_configure")),
    "site with the roles' checks skipped": Case(
        r"value of bridge_qos must be one of: 0, 1, 2, got: 3", group_vars=v(bridge_qos=3),
        extra=("--skip-tags", "cluster_preflight,broker_preflight,bridge_preflight,loadbalancer_preflight,"
                              "vip_preflight,watchdog_preflight,pki_preflight")),
    "add narrowed to the load balancers": Case(
        r"Group 'new_brokers' is empty or missing", playbook="add_broker.yml",
        extra=("--tags", "loadbalancer_configure"), preflight_seen=False),
    "remove narrowed to the bridge": Case(
        r"broker2 are still in the broker, bridge or load balancer group", playbook="remove_broker.yml",
        groups=dict(GOOD_GROUPS, retiring_brokers=["broker2"]), extra=("--tags", "bridge_configure"),
        preflight_seen=False),
    "uninstall narrowed without the confirmation": Case(
        r"To do that, run it again with -e uninstall_confirm=true", playbook="uninstall.yml",
        extra=("--tags", "watchdog"), preflight_seen=False),
    # Inventories that must pass: unknown settings only warn, and every safe value is accepted.
    "misspelled setting warns with the nearest name": Case(
        r"\[WARNING\] broker_user on broker1 is not a setting of mosquitto_ha.cluster and is ignored: did you mean "
        r"broker_users\?", playbook="preflight.yml", passes=True,
        group_vars=v(broker_user=[{"username": "x", "password": "y"}], vip_auth_pss="abc")),
    "two bridge masters and safe values pass": Case(
        r"PLAY RECAP", playbook="preflight.yml", passes=True,
        groups=dict(GOOD_GROUPS, bridge=["bridge1", "bridge2"]),
        group_vars=v(vip_auth_pass="Ab3$x%9~", cluster_name="mqtt ha.prod-1", cluster_dns_name="mqtt.example.org",
                     broker_users=[{"username": "sensor+1@site", "password": "pw with blanks inside"}],
                     broker_acl=[{"username": "sensor+1@site", "access": "readwrite", "topic": "a/+/c/#"}],
                     broker_acl_patterns=[{"access": "read", "topic": "clients/%c/#"}],
                     broker_extra_config="# tuned\nmax_packet_size 1048576\nallow_anonymous false",
                     broker_require_certificate="True", loadbalancer_reuseport="yes",
                     loadbalancer_fail_timeout="1m30s", pki_extra_sans=["DNS:*.mqtt.example.org", "IP:10.1.2.3"],
                     watchdog_extra_services=[{"unit": "ssh.service"}])),
    "extra config opt-in passes": Case(
        r"PLAY RECAP", playbook="preflight.yml", passes=True,
        group_vars=v(broker_extra_config="listener 1884 127.0.0.1", broker_extra_config_unchecked=True)),
}


def _batches():
    """Value cases grouped so that no two in one batch use the same host."""
    batches = []
    for name, (host, hvars, _msg) in VALUE_CASES.items():
        for batch in batches:
            if host not in batch:
                batch[host] = (name, hvars)
                break
        else:
            batches.append({host: (name, hvars)})
    return batches


BATCHES = _batches()
SECRET_CASES = ("bridge password with a line break", "broker password with a line break",
                "watchdog password with trailing blank", "VRRP password with ! and #")
BATCH_OF = {name: i for i, batch in enumerate(BATCHES) for name, _unused in batch.values()}


@pytest.fixture(scope="session")
def results(request, tmp_path_factory):
    """Runs every selected case's playbook concurrently; maps a job key to (rc, output)."""
    wanted_cases, wanted_batches = set(), set()
    for item in request.session.items:
        if item.name == "test_no_secret_value_in_the_output":
            wanted_batches |= {BATCH_OF[n] for n in SECRET_CASES}
        if item.name == "test_relative_controller_directory_is_not_created":
            wanted_batches.add(BATCH_OF["relative controller directory"])
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        if "case" in callspec.params:
            wanted_cases.add(callspec.params["case"])
        if "value_case" in callspec.params:
            wanted_batches.add(BATCH_OF[callspec.params["value_case"]])
    jobs = {("case", n): CASES[n] for n in wanted_cases}
    for i in wanted_batches:
        jobs[("batch", i)] = Case("", host_vars={h: hv for h, (_n, hv) in BATCHES[i].items()})
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {key: pool.submit(run, tmp_path_factory.mktemp("inv"), case) for key, case in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


def flat(text):
    return re.sub(r"\s+", " ", text)


def assert_nothing_changed(output, preflight_seen=True):
    for play in CHANGING_PLAYS:
        assert play not in output, output[-3000:]
    assert re.search(r"changed=[1-9]", output) is None, output[-3000:]
    if preflight_seen:
        assert "PLAY [Preflight" in output, output[-3000:]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_inventory_is_refused_before_any_change(results, case):
    spec = CASES[case]
    rc, output = results[("case", case)]
    if spec.passes:
        assert rc == 0, output[-3000:]
    else:
        assert rc != 0, output[-3000:]
        assert_nothing_changed(output, spec.preflight_seen)
        if not spec.preflight_seen:
            assert "PLAY [Preflight" not in output, output[-3000:]
    assert re.search(spec.message.replace(" ", r"\s*"), flat(output)), output[-3000:]


@pytest.mark.parametrize("value_case", list(VALUE_CASES))
def test_unsafe_value_is_refused_before_any_change(results, value_case):
    host, _hvars, message = VALUE_CASES[value_case]
    rc, output = results[("batch", BATCH_OF[value_case])]
    assert rc != 0, output[-3000:]
    assert_nothing_changed(output)
    # The value check runs on the controller for every host; the message names this case's host.
    assert f" on {host}" in message or f"(on {host})" in message.replace("\\", ""), message
    assert re.search(message, flat(output)), output[-3000:]


def test_no_secret_value_in_the_output(results):
    """The secrets of the value cases are refused without being repeated."""
    for name in SECRET_CASES:
        _rc, output = results[("batch", BATCH_OF[name])]
        secret = next(iter(v for v in VALUE_CASES[name][1].values()))
        secret = secret[0]["password"] if isinstance(secret, list) else secret
        assert secret not in output and repr(secret)[1:-1] not in output, name


def test_relative_controller_directory_is_not_created(results):
    """A relative cluster_local_dir is refused before any secret is generated into it."""
    rc, output = results[("batch", BATCH_OF["relative controller directory"])]
    assert rc != 0, output[-3000:]
    for base in (ROOT, ROOT / "playbooks"):
        assert not (base / "secrets").exists(), base
