"""Services, sockets, files and modes on every host of the cluster."""

import os
import re
import time
import uuid

import pytest
from mqttcheck import wait_until
from testinfra.utils.ansible_runner import AnsibleRunner

_RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
BROKERS = _RUNNER.get_hosts("brokers")
BRIDGE = _RUNNER.get_hosts("bridge")
LBS = _RUNNER.get_hosts("loadbalancers")
MOSQUITTO_HOSTS = BROKERS + BRIDGE
ALL = MOSQUITTO_HOSTS + LBS
WATCHDOG_PASSWORD = "/etc/mosquitto-ha/watchdog-mqtt-password"


@pytest.mark.parametrize("name", MOSQUITTO_HOSTS)
@pytest.mark.parametrize("service", ["mosquitto", "mosquitto-ha-watchdog"])
def test_mosquitto_hosts_services(cluster, name, service):
    svc = cluster.host(name).service(service)
    assert svc.is_running
    assert svc.is_enabled


@pytest.mark.parametrize("name", LBS)
@pytest.mark.parametrize("service", ["nginx", "keepalived", "mosquitto-ha-watchdog"])
def test_loadbalancer_services(cluster, name, service):
    svc = cluster.host(name).service(service)
    assert svc.is_running
    assert svc.is_enabled


@pytest.mark.parametrize("name", MOSQUITTO_HOSTS)
def test_mosquitto_listens_on_tls_port_and_plaintext_on_loopback_only(cluster, name):
    host = cluster.host(name)
    assert host.socket(f"tcp://0.0.0.0:{cluster.broker_port}").is_listening
    listening = host.socket.get_listening_sockets()
    plaintext = sorted(s for s in listening if s.endswith(":1883"))
    # molecule.yml turns the loopback-only plaintext listener on for the first broker only.
    expected = ["tcp://127.0.0.1:1883"] if name == BROKERS[0] else []
    assert plaintext == expected, f"plaintext listeners on {name}: {plaintext}"


@pytest.mark.parametrize("name", MOSQUITTO_HOSTS)
def test_password_acl_and_bridge_files_are_private(cluster, name):
    host = cluster.host(name)
    conf = host.file("/etc/mosquitto/mosquitto.conf").content_string
    assert "allow_anonymous false" in conf
    assert "password_file /etc/mosquitto/passwd" in conf
    assert "acl_file /etc/mosquitto/acl" in conf
    for path in ("/etc/mosquitto/passwd", "/etc/mosquitto/acl", "/etc/mosquitto-ha/passwd.staging"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("mosquitto", "mosquitto", 0o600), path
    passwd = host.file("/etc/mosquitto/passwd").content_string
    users = sorted(line.split(":", 1)[0] for line in passwd.splitlines())
    # Brokers also know the bridge master's user, every mosquitto host the watchdog's; every hash is mosquitto
    # 2.0's $7$ (PBKDF2-SHA512).
    assert users == sorted(["e2e", "alice", "bob", "mosquitto-ha-watchdog"] + (BRIDGE if name in BROKERS else []))
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in passwd.splitlines())
    assert "e2e-molecule-secret" not in passwd
    if name in BRIDGE:
        bridge_conf = host.file("/etc/mosquitto/conf.d/bridge.conf")
        assert (bridge_conf.user, bridge_conf.group, bridge_conf.mode) == ("root", "mosquitto", 0o640)
        assert f"remote_username {name}" in bridge_conf.content_string


@pytest.mark.parametrize("name", MOSQUITTO_HOSTS)
def test_no_secret_in_a_world_readable_file(cluster, name):
    """The test user's password, the bridge password and password hashes appear in no file others can read."""
    host = cluster.host(name)
    bridge_password = host.check_output("sed -n 's/^remote_password //p' /etc/mosquitto/conf.d/bridge.conf | head -n1") \
        if name in BRIDGE else ""
    watchdog_password = host.check_output(f"cat {WATCHDOG_PASSWORD}")
    assert len(watchdog_password) == 32
    for secret in filter(None, ["e2e-molecule-secret", "$7$101$", bridge_password, watchdog_password]):
        found = host.run(f"grep -rlF -- '{secret}' /etc /var/lib/mosquitto /tmp 2>/dev/null "
                         "| xargs -r stat -c '%a %n' | awk '$1 ~ /[4-7]$/'")
        assert found.stdout.strip() == "", f"world-readable files hold a secret on {name}: {found.stdout}"


@pytest.mark.parametrize("name", MOSQUITTO_HOSTS)
def test_watchdog_probe_logs_in_as_its_own_user(cluster, name):
    """The watchdog's MQTT probe logs in as mosquitto-ha-watchdog (password 0600 root, not in watchdog.json),
    so mosquitto logs no refused client every few seconds."""
    host = cluster.host(name)
    secret = host.file(WATCHDOG_PASSWORD)
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)
    config = host.file("/etc/mosquitto-ha/watchdog.json").content_string
    assert '"username": "mosquitto-ha-watchdog"' in config
    assert host.check_output(f"cat {WATCHDOG_PASSWORD}") not in config
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    time.sleep(7.5)  # at least two probes (every 3 s); nothing else connects to this host meanwhile
    log = host.check_output(f"journalctl -u mosquitto --since '{since}' --no-pager -o cat")
    logins = re.findall(r"New client connected from 127\.0\.0\.1:\d+ as mosquitto-ha-watchdog "
                        r".*u'mosquitto-ha-watchdog'", log)
    assert len(logins) >= 2, log
    assert "not authorised" not in log, log
    watchdog_log = host.check_output("journalctl -u mosquitto-ha-watchdog --no-pager -o cat")
    assert "refuses the probe's login" not in watchdog_log


def test_watchdog_user_has_no_topic_rights(cluster):
    """The probe's user may connect, but reads and writes nothing (no ACL rule names it)."""
    broker = next(iter(cluster.brokers.values()))
    password = cluster.host(BROKERS[0]).check_output(f"cat {WATCHDOG_PASSWORD}")
    topic = f"e2e/watchdog-user/{uuid.uuid4().hex[:8]}"
    as_watchdog = cluster.client(broker, cluster.broker_port, username="mosquitto-ha-watchdog",
                                 password=password).connect()
    e2e = cluster.client(broker, cluster.broker_port).connect().subscribe(topic)
    try:
        as_watchdog.mqtt.subscribe(topic, 1)  # mosquitto 2.0 may grant the SUBACK; the ACL stops delivery
        time.sleep(0.5)
        as_watchdog.publish(topic, ["from-watchdog-user"], qos=1)
        e2e.publish(topic, ["from-e2e"], qos=1)  # the positive control
        assert wait_until(lambda: e2e.received(topic) == ["from-e2e"], 10), e2e.received(topic)
        time.sleep(3)
        assert e2e.received(topic) == ["from-e2e"], "the watchdog's user published"
        assert as_watchdog.received(topic) == [], "the watchdog's user read a topic"
    finally:
        as_watchdog.close()
        e2e.close()


@pytest.mark.parametrize("name", LBS)
def test_nginx_listens_on_vip_and_health_port(cluster, name):
    host = cluster.host(name)
    # Both nodes bind the VIP (net.ipv4.ip_nonlocal_bind), so the backup is ready the moment it takes over.
    assert host.socket(f"tcp://{cluster.vip}:{cluster.port}").is_listening
    assert host.socket("tcp://127.0.0.1:18883").is_listening
    assert not host.socket("tcp://0.0.0.0:80").is_listening
    assert host.sysctl("net.ipv4.ip_nonlocal_bind") == 1


def test_vip_held_by_exactly_one_load_balancer(cluster):
    holders = [n for n in LBS if cluster.vip in cluster.host(n).interface("eth0").addresses]
    assert len(holders) == 1, f"VIP {cluster.vip} is on {holders}"


@pytest.mark.parametrize("name", MOSQUITTO_HOSTS)
def test_host_key_and_certificate(cluster, name):
    host = cluster.host(name)
    key = host.file(f"/etc/mosquitto-ha/pki/{name}.key")
    assert key.is_file
    assert key.mode == 0o600
    assert key.user == "mosquitto"
    cert = host.file(f"/etc/mosquitto-ha/pki/{name}.crt")
    assert cert.mode == 0o644
    text = host.check_output(f"openssl x509 -in /etc/mosquitto-ha/pki/{name}.crt -noout -text")
    assert f"DNS:{name}" in text
    if name in BROKERS:
        assert f"IP Address:{cluster.vip}" in text
    else:
        assert f"IP Address:{cluster.vip}" not in text
    assert host.run(
        f"openssl verify -CAfile /etc/mosquitto-ha/pki/ca.crt /etc/mosquitto-ha/pki/{name}.crt").rc == 0


@pytest.mark.parametrize("name", LBS)
def test_load_balancer_has_the_ca_but_no_host_key_or_certificate(cluster, name):
    """nginx passes TLS through: a load balancer holds the CA certificate only."""
    host = cluster.host(name)
    assert host.file("/etc/mosquitto-ha/pki/ca.crt").is_file
    assert host.check_output("ls -A /etc/mosquitto-ha/pki") == "ca.crt"


def test_bridge_has_one_connection_per_broker(cluster):
    conf = cluster.host(BRIDGE[0]).file("/etc/mosquitto/conf.d/bridge.conf").content_string
    connections = [line.split()[1] for line in conf.splitlines() if line.startswith("connection ")]
    assert sorted(connections) == sorted(f"bridge-{b}" for b in BROKERS)
    for address in cluster.brokers.values():
        assert f"address {address}:{cluster.broker_port}" in conf
    assert conf.count("topic # both 2") == len(BROKERS)
    assert conf.count("bridge_insecure false") == len(BROKERS)


def test_bridge_connections_are_up(cluster, client_certs):
    """The bridge master reports every connection up on its $SYS notification topics."""
    from mqttcheck import wait_until

    # The bridge master's listener requires a client certificate in this scenario (molecule.yml).
    client = cluster.client(cluster.bridge[BRIDGE[0]], cluster.broker_port, certfile=client_certs["cluster"][0],
                            keyfile=client_certs["cluster"][1]).connect()
    try:
        client.subscribe("$SYS/broker/connection/+/state", qos=1)
        # Notifications are published under the bridge's remote client id.
        expected = {f"$SYS/broker/connection/{BRIDGE[0]}.bridge-{b}/state" for b in BROKERS}
        wait_until(lambda: all(client.received(t)[-1:] == ["1"] for t in expected), 30)
        states = {t: client.received(t) for t in expected}
    finally:
        client.close()
    assert all(v[-1:] == ["1"] for v in states.values()), states


@pytest.mark.parametrize("name", LBS)
def test_nginx_upstreams_follow_the_inventory(cluster, name):
    conf = cluster.host(name).file("/etc/nginx/nginx.conf").content_string
    servers = [line.split()[1] for line in conf.splitlines() if line.strip().startswith("server ") and "max_fails" in line]
    assert sorted(servers) == sorted(f"{a}:{cluster.broker_port}" for a in cluster.brokers.values())
    assert "hash $remote_addr consistent;" in conf


@pytest.mark.parametrize("name", LBS)
def test_keepalived_config_is_private(cluster, name):
    conf = cluster.host(name).file("/etc/keepalived/keepalived.conf")
    assert conf.mode == 0o600
    assert conf.user == "root"
    text = conf.content_string
    # The defaults: VRRP 3 with 0.2 s adverts, which has no authentication.
    assert re.search(r"^\s*vrrp_version 3$", text, flags=re.M), text
    assert re.search(r"^\s*advert_int 0.2$", text, flags=re.M), text
    assert "auth_type" not in text and "auth_pass" not in text
