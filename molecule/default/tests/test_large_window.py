"""A publisher with a large in-flight window loses nothing, at QoS 1 and QoS 2, on its own broker and across the
bridge master.

mosquitto refuses a QoS 1/2 PUBLISH beyond a client's incoming quota (max_inflight_messages) with reason code
0x97, which an MQTT 3.1.1 client cannot see; for QoS 2 it then completes the exchange (PUBREL -> PUBCOMP)
although nothing was stored. So a client whose window exceeds the brokers' limit gets every message
acknowledged and most of them never delivered. The broker role's limits must let any window through.
"""

import time
import uuid

import pytest
from mqttcheck import counts, wait_for_bridging, wait_until

MESSAGES = 3000
WINDOW = 2000  # PUBLISH packets the publisher has in flight at once (paho's max_inflight_messages)


@pytest.fixture
def subscribers(cluster):
    subs = {}

    def make(topic, qos):
        for name, address in cluster.brokers.items():
            subs[name] = cluster.client(address, cluster.broker_port).connect().subscribe(topic, qos=qos)
        return subs

    yield make
    for s in subs.values():
        s.close()


@pytest.mark.parametrize("qos", [1, 2], ids=["qos1", "qos2"])
@pytest.mark.parametrize("via", ["vip", "broker"])
def test_large_window_publisher_loses_nothing(cluster, subscribers, via, qos):
    topic = f"e2e/window/{uuid.uuid4().hex[:8]}"
    subs = subscribers(topic + "/#", qos)
    if via == "vip":
        pub = cluster.client(cluster.vip, cluster.port)
    else:
        pub = cluster.client(next(iter(cluster.brokers.values())), cluster.broker_port)
    pub.mqtt.max_inflight_messages_set(WINDOW)
    pub.connect()
    payloads = [str(i) for i in range(MESSAGES)]
    try:
        wait_for_bridging(pub, subs.values(), topic + "/probe")
        started = time.monotonic()
        pub.publish(topic + "/data", payloads, qos=qos, timeout=60)
        acknowledged = time.monotonic() - started
        wait_until(lambda: all(len(set(s.received(topic + "/data"))) >= MESSAGES for s in subs.values()), 30)
        time.sleep(1)  # a duplicate would arrive within this
    finally:
        pub.close()

    report = {}
    for name, s in subs.items():
        got = counts(s.received(topic + "/data"))
        report[name] = {"lost": len(set(payloads) - set(got)), "duplicates": sum(c - 1 for c in got.values())}
    print(f"{MESSAGES} messages at QoS {qos}, window {WINDOW}, via {via}, acknowledged in {acknowledged:.1f}s: "
          f"{report}")
    for name, s in subs.items():
        got = counts(s.received(topic + "/data"))
        missing = sorted(set(payloads) - set(got), key=int)
        assert not missing, f"{name} lost {len(missing)} acknowledged messages, e.g. {missing[:10]} ({report})"
        if qos == 2:
            assert report[name]["duplicates"] == 0, f"{name} got duplicates at QoS 2 ({report})"
