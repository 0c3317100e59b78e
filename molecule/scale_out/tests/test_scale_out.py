"""Scale out with add_broker.yml and in with remove_broker.yml while a QoS 1 stream flows through the VIP.

The tests run in order and share state: each step builds on the one before (module-scoped fixtures).
"""

import os
import threading
import time
import uuid

import pytest
import yaml
from cluster import _address, run_playbook
from mqttcheck import counts, wait_for_bridging, wait_until

PROJECT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
PLAYBOOKS = os.path.join(PROJECT, "playbooks")
NEW = ["mso-broker3", "mso-broker4"]
RETIRED = "mso-broker4"


class Stream(threading.Thread):
    """Publishes QoS 1 messages 0, 1, 2, ... every `interval` s until stopped (at most `limit`)."""

    def __init__(self, client, topic, interval=0.02, limit=30000):
        super().__init__(daemon=True)
        self.client, self.topic, self.interval, self.limit = client, topic, interval, limit
        self.infos = []
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set() and i < self.limit:
            self.infos.append((str(i), self.client.mqtt.publish(self.topic, str(i), qos=1)))
            i += 1
            time.sleep(self.interval)

    def acked(self):
        return [p for p, info in self.infos if info.is_published()]


def _inventory(tmp_path_factory, name, groups):
    path = tmp_path_factory.mktemp("inv") / f"{name}.yml"
    children = {g: {"hosts": {h: {} for h in hosts}} for g, hosts in groups.items()}
    path.write_text(yaml.safe_dump({"all": {"children": children}}))
    return str(path)


@pytest.fixture(scope="module")
def state():
    return {}


def _all_pairs_deliver(cluster, brokers):
    """Each broker publishes one message; a subscriber on every broker must get all of them exactly once."""
    topic = f"e2e/pairs/{uuid.uuid4().hex[:8]}"
    subs = {n: cluster.client(a, cluster.broker_port).connect().subscribe(topic + "/#") for n, a in brokers.items()}
    pubs = {n: cluster.client(a, cluster.broker_port).connect() for n, a in brokers.items()}
    try:
        for n, pub in pubs.items():
            wait_for_bridging(pub, list(subs.values()), f"{topic}/probe-{n}", timeout=60)
        for n, pub in pubs.items():
            pub.publish(topic + "/data", [f"from-{n}"])
        expected = sorted(f"from-{n}" for n in brokers)
        wait_until(lambda: all(len(s.received(topic + "/data")) >= len(brokers) for s in subs.values()), 30)
        time.sleep(0.5)
        return {n: sorted(s.received(topic + "/data")) for n, s in subs.items()}, expected
    finally:
        for c in list(subs.values()) + list(pubs.values()):
            c.close()


def test_add_two_brokers_under_load(cluster, state, tmp_path_factory):
    brokers_before = dict(cluster.brokers)
    first = next(iter(brokers_before.values()))
    topic = f"e2e/scale/{uuid.uuid4().hex[:8]}"

    sub = cluster.client(first, cluster.broker_port, client_id=f"scale-sub-{uuid.uuid4().hex[:6]}",
                         clean_session=False).connect().subscribe(topic + "/#", qos=1)
    idle = cluster.client(cluster.vip, cluster.port).connect()
    idle_drops = []
    idle.mqtt.on_disconnect = lambda *args: idle_drops.append(time.monotonic())
    pub = cluster.client(cluster.vip, cluster.port, client_id=f"scale-pub-{uuid.uuid4().hex[:6]}",
                         clean_session=False).connect()
    pub.mqtt.reconnect_delay_set(1, 2)
    pub_drops = []
    pub.mqtt.on_disconnect = lambda *args: pub_drops.append(time.monotonic())
    wait_for_bridging(pub, [sub], topic + "/probe")

    inv = _inventory(tmp_path_factory, "add", {"brokers": NEW, "new_brokers": NEW})
    stream = Stream(pub, topic + "/stream")
    stream.start()
    started = time.monotonic()
    rc, output, recap = run_playbook(os.path.join(PLAYBOOKS, "add_broker.yml"), "-i", inv)
    add_seconds = time.monotonic() - started
    stream.stop.set()
    stream.join(10)
    assert rc == 0, output[-5000:]

    # Every acknowledged message reaches the persistent subscriber.
    wait_until(lambda: len(stream.acked()) == len(stream.infos), 60)
    acked = stream.acked()
    wait_until(lambda: set(acked) <= set(sub.received(topic + "/stream")), 60)
    time.sleep(1)
    got = counts(sub.received(topic + "/stream"))
    lost = sorted(set(acked) - set(got), key=int)
    duplicates = sum(c - 1 for c in got.values() if c > 1)
    print(f"\nadd_broker.yml for 2 brokers: {add_seconds:.1f} s; stream of {len(stream.infos)} QoS1 messages "
          f"({len(acked)} acknowledged): lost {len(lost)}, duplicates {duplicates}; "
          f"publisher disconnects {len(pub_drops)}, idle client disconnects {len(idle_drops)}")
    state["add"] = {"inventory": inv, "recap": recap, "idle": idle, "idle_drops": idle_drops, "pub": pub, "sub": sub}
    assert not lost, f"{len(lost)} acknowledged messages lost, first {lost[:10]}"
    assert len(acked) > 100, "the stream was too short to mean anything"


def test_add_broker_left_the_existing_brokers_alone(cluster, state):
    recap = state["add"]["recap"]
    for name in cluster.brokers:
        assert recap[name]["changed"] == 0, recap
    for name in NEW:
        assert recap[name]["changed"] > 0, recap


def test_client_connected_before_the_scale_out_is_still_connected(cluster, state):
    idle = state["add"]["idle"]
    assert state["add"]["idle_drops"] == []
    assert idle.mqtt.is_connected()
    topic = f"e2e/idle/{uuid.uuid4().hex[:8]}"
    idle.subscribe(topic)
    idle.publish(topic, ["still-here"])
    assert wait_until(lambda: idle.received(topic) == ["still-here"], 10)
    for c in (idle, state["add"]["pub"], state["add"]["sub"]):
        c.close()


def test_four_upstreams_and_four_bridges(cluster):
    addresses = sorted(list(cluster.brokers.values()) + [_address(cluster.inventory, n) for n in NEW])
    for lb in cluster.loadbalancers:
        conf = cluster.host(lb).file("/etc/nginx/nginx.conf").content_string
        servers = sorted(line.split()[1].rsplit(":", 1)[0] for line in conf.splitlines()
                         if line.strip().startswith("server ") and "max_fails" in line)
        assert servers == addresses, lb
    assert len(cluster.bridge) == 2, "the scenario has a bridge master and its standby"
    for name in cluster.bridge:  # the active bridge master and the standby alike
        bridge = cluster.host(name).file("/etc/mosquitto/conf.d/bridge.conf").content_string
        assert sorted(line.split()[1] for line in bridge.splitlines() if line.startswith("connection ")) == sorted(
            f"bridge-{n}" for n in list(cluster.brokers) + NEW), name


def test_every_pair_of_the_four_brokers_delivers(cluster):
    brokers = dict(cluster.brokers, **{n: _address(cluster.inventory, n) for n in NEW})
    got, expected = _all_pairs_deliver(cluster, brokers)
    assert all(v == expected for v in got.values()), got


def test_site_refuses_brokers_still_waiting_in_new_brokers(state):
    rc, output, recap = run_playbook(os.path.join(PLAYBOOKS, "site.yml"), "-i", state["add"]["inventory"])
    assert rc != 0
    assert "in group 'new_brokers': add new brokers with add_broker.yml" in " ".join(output.split()), output[-3000:]
    assert {h: r["changed"] for h, r in recap.items() if r["changed"]} == {}, output[-3000:]


def test_site_after_add_broker_changes_nothing(cluster, state, tmp_path_factory):
    # Step 3 of add_broker.yml: the new brokers leave new_brokers and stay in the broker group.
    added = _inventory(tmp_path_factory, "added", {"brokers": NEW})
    rc, output, recap = run_playbook(os.path.join(PLAYBOOKS, "site.yml"), "-i", added)
    assert rc == 0, output[-5000:]
    assert {h: r["changed"] for h, r in recap.items() if r["changed"]} == {}, output[-5000:]


def test_adding_configured_brokers_again_is_refused(state):
    rc, output, recap = run_playbook(os.path.join(PLAYBOOKS, "add_broker.yml"), "-i", state["add"]["inventory"])
    assert rc != 0
    assert "already have a bridge connection" in output, output[-3000:]
    assert {h: r["changed"] for h, r in recap.items() if r["changed"]} == {}, output[-3000:]


def test_remove_a_broker(cluster, state, tmp_path_factory):
    inv = _inventory(tmp_path_factory, "remove", {"brokers": ["mso-broker3"], "retiring_brokers": [RETIRED]})
    started = time.monotonic()
    rc, output, _unused = run_playbook(os.path.join(PLAYBOOKS, "remove_broker.yml"), "-i", inv,
                                       "-e", "remove_broker_drain_timeout=10")
    print(f"\nremove_broker.yml for 1 broker: {time.monotonic() - started:.1f} s")
    assert rc == 0, output[-5000:]
    state["remove"] = {"inventory": inv}
    retired_address = _address(cluster.inventory, RETIRED)
    for lb in cluster.loadbalancers:
        assert f"server {retired_address}:" not in cluster.host(lb).file("/etc/nginx/nginx.conf").content_string
    for name in cluster.bridge:
        bridge = cluster.host(name).file("/etc/mosquitto/conf.d/bridge.conf").content_string
        assert f"connection bridge-{RETIRED}" not in bridge, name
    retired = cluster.host(RETIRED).service("mosquitto")
    assert not retired.is_running
    assert not retired.is_enabled


def test_remaining_brokers_still_deliver(cluster):
    brokers = dict(cluster.brokers, **{"mso-broker3": _address(cluster.inventory, "mso-broker3")})
    got, expected = _all_pairs_deliver(cluster, brokers)
    assert all(v == expected for v in got.values()), got


def test_site_after_remove_broker_changes_nothing(state):
    rc, output, recap = run_playbook(os.path.join(PLAYBOOKS, "site.yml"), "-i", state["remove"]["inventory"])
    assert rc == 0, output[-5000:]
    assert {h: r["changed"] for h, r in recap.items() if r["changed"]} == {}, output[-5000:]
    assert RETIRED not in recap
