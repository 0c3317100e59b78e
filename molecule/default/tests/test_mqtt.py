"""End-to-end MQTT over TLS through the VIP and across the bridge master, with paho-mqtt."""

import time
import uuid

import pytest
from mqttcheck import Client, counts, plaintext_refused, untrusted_tls_refused, wait_for_bridging, wait_until


def _topic(name):
    return f"e2e/{name}/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def broker_subscribers(cluster):
    subs = {}

    def make(topic):
        for name, address in cluster.brokers.items():
            subs[name] = cluster.client(address, cluster.broker_port).connect().subscribe(topic, qos=1)
        return subs

    yield make
    for s in subs.values():
        s.close()


def test_vip_messages_reach_every_broker_exactly_once(cluster, broker_subscribers):
    topic = _topic("vip")
    subs = broker_subscribers(topic + "/#")
    pub = cluster.client(cluster.vip, cluster.port).connect()
    try:
        wait_for_bridging(pub, subs.values(), topic + "/probe")
        payloads = [str(i) for i in range(100)]
        pub.publish(topic + "/data", payloads, qos=1)
        wait_until(lambda: all(len(s.received(topic + "/data")) >= 100 for s in subs.values()), 30)
        time.sleep(1)  # a duplicate would arrive within this
    finally:
        pub.close()
    for name, s in subs.items():
        got = counts(s.received(topic + "/data"))
        assert set(got) == set(payloads), f"{name} missed {sorted(set(payloads) - set(got), key=int)[:10]}"
        assert max(got.values()) == 1, f"{name} got duplicates: {[p for p, c in got.items() if c > 1][:10]}"


@pytest.mark.parametrize("direction", [(0, 1), (1, 0)], ids=["broker1-to-broker2", "broker2-to-broker1"])
def test_cross_broker_delivery(cluster, direction):
    names = list(cluster.brokers)
    src, dst = names[direction[0]], names[direction[1]]
    topic = _topic("cross")
    sub = cluster.client(cluster.brokers[dst], cluster.broker_port).connect().subscribe(topic + "/#", qos=1)
    pub = cluster.client(cluster.brokers[src], cluster.broker_port).connect()
    try:
        wait_for_bridging(pub, [sub], topic + "/probe")
        pub.publish(topic + "/data", ["a", "b", "c"], qos=1)
        assert wait_until(lambda: len(sub.received(topic + "/data")) >= 3, 15)
        time.sleep(0.5)
        assert sub.received(topic + "/data") == ["a", "b", "c"]
    finally:
        pub.close()
        sub.close()


def test_plaintext_mqtt_to_the_vip_is_refused(cluster):
    assert plaintext_refused(cluster.vip, cluster.port)
    assert plaintext_refused(cluster.vip, 1883)


def test_plaintext_mqtt_to_a_broker_is_refused(cluster):
    address = next(iter(cluster.brokers.values()))
    assert plaintext_refused(address, cluster.broker_port)
    assert plaintext_refused(address, 1883)


def test_client_that_does_not_trust_the_cluster_ca_is_refused(cluster):
    assert untrusted_tls_refused(cluster.vip, cluster.port)
    client = Client(cluster.vip, cluster.port, cafile=None)
    client.mqtt.tls_set()  # system CAs only
    with pytest.raises(Exception):
        client.connect(timeout=5)
    client.close()


def test_persistent_session_gets_messages_sent_while_away(cluster):
    topic = _topic("persist")
    client_id = f"e2e-persist-{uuid.uuid4().hex[:8]}"
    away = cluster.client(cluster.vip, cluster.port, client_id=client_id, clean_session=False).connect()
    away.subscribe(topic, qos=1)
    away.close()

    pub = cluster.client(cluster.vip, cluster.port).connect()
    payloads = [str(i) for i in range(20)]
    try:
        pub.publish(topic, payloads, qos=1)
    finally:
        pub.close()

    back = cluster.client(cluster.vip, cluster.port, client_id=client_id, clean_session=False).connect()
    try:
        assert back.connect_result[1].session_present, "the broker did not keep the session"
        assert wait_until(lambda: len(back.received(topic)) >= len(payloads), 15)
        time.sleep(0.5)
        got = counts(back.received(topic))
        assert set(got) == set(payloads)
    finally:
        # Clean up the persistent session on the broker.
        back.close()
        cluster.client(cluster.vip, cluster.port, client_id=client_id, clean_session=True).connect().close()
