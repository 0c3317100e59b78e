"""Secure by default: who may connect, publish and subscribe, end to end with paho-mqtt.

molecule.yml sets the users (e2e may do everything; alice and bob only their own topics, plus the pattern
users/%u/#), the loopback-only plaintext listener on the first broker, and client certificates required on the
bridge master's listener."""

import time
import uuid

import pytest
from mqttcheck import wait_for_bridging, wait_until

NOT_DELIVERED_WAIT = 3  # seconds a denied message gets to show up while the positive control arrives


def _topic(prefix):
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


def _refused(client, timeout=5):
    """Connect and return the CONNACK reason code; it must not be a success."""
    try:
        client.connect(timeout=timeout)
    except (TimeoutError, OSError) as exc:
        return f"no session ({exc.__class__.__name__}: {exc})"
    client.close()
    raise AssertionError(f"{client.host}:{client.port} accepted the connection: {client.connect_result}")


def _first_broker(cluster):
    return next(iter(cluster.brokers.values()))


@pytest.mark.parametrize("target", ["vip", "broker"])
def test_anonymous_client_is_refused(cluster, target):
    host, port = (cluster.vip, cluster.port) if target == "vip" else (_first_broker(cluster), cluster.broker_port)
    client = cluster.client(host, port, username=None, password=None)
    reason = _refused(client)
    assert "Not authorized" in str(reason) or "not authorised" in str(reason).lower(), reason
    # Control: the same endpoint accepts the test user.
    cluster.client(host, port).connect().close()


@pytest.mark.parametrize("target", ["vip", "broker", "bridge master"])
def test_wrong_password_is_refused(cluster, client_certs, target):
    endpoints = {"vip": (cluster.vip, cluster.port), "broker": (_first_broker(cluster), cluster.broker_port),
                 "bridge master": (next(iter(cluster.bridge.values())), cluster.broker_port)}
    host, port = endpoints[target]
    certs = {"certfile": client_certs["cluster"][0], "keyfile": client_certs["cluster"][1]} \
        if target == "bridge master" else {}
    reason = _refused(cluster.client(host, port, password="not-the-password", **certs))
    assert "Not authorized" in str(reason) or "not authorised" in str(reason).lower(), reason
    unknown = _refused(cluster.client(host, port, username="nobody", password="whatever", **certs))
    assert "Not authorized" in str(unknown) or "not authorised" in str(unknown).lower(), unknown


def test_client_certificate_from_a_foreign_ca_is_refused(cluster, client_certs):
    """The bridge master requires client certificates (molecule.yml): one signed by the cluster CA with the right
    password gets in; the same names signed by a foreign CA, or no certificate at all, do not."""
    bridge = next(iter(cluster.bridge.values()))
    crt, key = client_certs["cluster"]
    cluster.client(bridge, cluster.broker_port, certfile=crt, keyfile=key).connect().close()

    fcrt, fkey = client_certs["foreign"]
    foreign = _refused(cluster.client(bridge, cluster.broker_port, certfile=fcrt, keyfile=fkey))
    assert "no session" in str(foreign), foreign
    without = _refused(cluster.client(bridge, cluster.broker_port))
    assert "no session" in str(without), without
    # The brokers do not require one (client certificates are per host): the test user gets in without.
    cluster.client(_first_broker(cluster), cluster.broker_port).connect().close()


def test_user_cannot_read_or_write_another_users_topics(cluster):
    broker = _first_broker(cluster)
    alice = cluster.client(broker, cluster.broker_port, username="alice", password="alice-molecule-secret").connect()
    bob = cluster.client(broker, cluster.broker_port, username="bob", password="bob-molecule-secret").connect()
    watcher = cluster.client(broker, cluster.broker_port).connect()  # e2e: may read everything
    try:
        a_topic, b_topic = _topic("alice"), _topic("bob")
        alice.subscribe(a_topic + "/#", qos=1)
        watcher.subscribe("alice/#", qos=1).subscribe("bob/#", qos=1)
        # bob tries to read alice's topics (mosquitto 2.0 may grant the SUBACK; the ACL stops delivery).
        bob.mqtt.subscribe(a_topic + "/#", 1)
        bob.mqtt.subscribe(b_topic + "/#", 1)
        time.sleep(0.5)

        # Publishing: bob on alice's topic (denied) and on his own (allowed, the positive control).
        bob.publish(a_topic + "/from-bob", ["forged"], qos=1)
        bob.publish(b_topic + "/own", ["mine"], qos=1)
        assert wait_until(lambda: watcher.received(b_topic + "/own") == ["mine"], 10), "control not delivered"
        # Reading: alice publishes on her topic; alice's own subscriber and e2e get it, bob must not.
        alice.publish(a_topic + "/data", ["secret"], qos=1)
        assert wait_until(lambda: alice.received(a_topic + "/data") == ["secret"], 10), "alice's control"
        assert wait_until(lambda: watcher.received(a_topic + "/data") == ["secret"], 10), "e2e's control"
        time.sleep(NOT_DELIVERED_WAIT)
        assert bob.received(a_topic + "/data") == [], "bob read alice's topic"
        assert alice.received(a_topic + "/from-bob") == [], "bob published on alice's topic"
        assert watcher.received(a_topic + "/from-bob") == [], "bob published on alice's topic"
    finally:
        for c in (alice, bob, watcher):
            c.close()


def test_pattern_rule_gives_each_user_its_own_tree(cluster):
    broker = _first_broker(cluster)
    alice = cluster.client(broker, cluster.broker_port, username="alice", password="alice-molecule-secret").connect()
    bob = cluster.client(broker, cluster.broker_port, username="bob", password="bob-molecule-secret").connect()
    run = uuid.uuid4().hex[:8]
    try:
        alice.subscribe(f"users/alice/{run}", qos=1)
        bob.mqtt.subscribe(f"users/alice/{run}", 1)
        bob.subscribe(f"users/bob/{run}", qos=1)
        time.sleep(0.5)
        alice.publish(f"users/alice/{run}", ["a"], qos=1)
        alice.publish(f"users/bob/{run}", ["forged"], qos=1)  # not alice's tree
        bob.publish(f"users/bob/{run}", ["b"], qos=1)
        assert wait_until(lambda: alice.received(f"users/alice/{run}") == ["a"], 10)
        assert wait_until(lambda: bob.received(f"users/bob/{run}") == ["b"], 10)
        time.sleep(NOT_DELIVERED_WAIT)
        assert bob.received(f"users/alice/{run}") == []
        assert bob.received(f"users/bob/{run}") == ["b"], "alice published in bob's tree"
    finally:
        alice.close()
        bob.close()


def _mqtt_connect_script(address, port, username, password):
    """A python3 one-liner for the hosts: plain MQTT CONNECT with credentials; prints the CONNACK return code
    or the connection error."""
    user, pw = username.encode(), password.encode()
    payload = (b"\x00\x08plaincon" + len(user).to_bytes(2, "big") + user + len(pw).to_bytes(2, "big") + pw)
    variable = b"\x00\x04MQTT\x04\xc2\x00\x1e"
    packet = bytes([0x10, len(variable) + len(payload)]) + variable + payload
    return ("python3 -c \"import socket\n"
            "try:\n"
            f" s=socket.create_connection(('{address}',{port}),timeout=5); s.sendall({packet!r}); r=s.recv(4)\n"
            " print('connack', r[3] if len(r)==4 and r[0]==0x20 else r)\n"
            "except OSError as e:\n"
            " print('error', e.__class__.__name__)\"")


def test_plaintext_listener_answers_on_loopback_only(cluster):
    names = list(cluster.brokers)
    first, other = names[0], names[1]
    address = cluster.brokers[first]
    local = cluster.host(first).check_output(
        _mqtt_connect_script("127.0.0.1", 1883, cluster.username, cluster.password))
    assert local == "connack 0", local
    wrong = cluster.host(first).check_output(_mqtt_connect_script("127.0.0.1", 1883, cluster.username, "wrong"))
    assert wrong == "connack 5", wrong
    remote = cluster.host(other).check_output(
        _mqtt_connect_script(address, 1883, cluster.username, cluster.password))
    assert remote == "error ConnectionRefusedError", remote


def test_bridging_works_with_authentication_on(cluster):
    """Every broker reaches every other through the bridge master, which logs in with its own user."""
    names = list(cluster.brokers)
    topic = _topic("e2e/secure-bridge")
    subs = {n: cluster.client(cluster.brokers[n], cluster.broker_port).connect().subscribe(topic + "/#")
            for n in names}
    pubs = {n: cluster.client(cluster.brokers[n], cluster.broker_port).connect() for n in names}
    try:
        for src in names:
            others = [subs[n] for n in names if n != src]
            assert wait_for_bridging(pubs[src], others, f"{topic}/from-{src}", timeout=30)
    finally:
        for c in list(subs.values()) + list(pubs.values()):
            c.close()
    for name in names:
        log = cluster.host(name).check_output(
            "journalctl -u mosquitto --no-pager -o cat | grep -F 'bridge-' | grep -F \"u'\" | tail -n 1")
        assert f"u'{next(iter(cluster.bridge))}'" in log, log
