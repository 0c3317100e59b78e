"""A change of the VRRP settings both load balancers share (here VRRP 3 with 0.2 s adverts -> VRRP 2 with 1 s adverts
and back) is applied by site.yml to both together: under a QoS 1 stream through the VIP, the VIP never moves, no
keepalived changes state, the publisher never reconnects and nothing acknowledged is lost. Run on part of the pair
(--limit one load balancer), the same change is refused before keepalived is touched.

Only the vip role's tags run (vip_configure, vip_service), with the preflight, to keep the scenario short."""

import os
import threading
import time
import uuid

import pytest
from cluster import run_playbook_process
from faults import Rig, Stream, _resilient, clock, dexec, journal
from mqttcheck import wait_until

PLAYBOOK = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "site.yml")
VRRP2 = ("-e", "vip_vrrp_version=2", "-e", "vip_advert_int=1")
TAGS = ("--tags", "vip_configure,vip_service")
CONF = "/etc/keepalived/keepalived.conf"
MARKER = "/run/mosquitto-ha-vrrp-pending"


@pytest.fixture(scope="module")
def rig(cluster):
    rig = Rig(cluster)
    assert rig.settled(120), "the cluster is not healthy before the VRRP switch"
    return rig


def _shared(lb):
    """The VRRP version and advert interval in a load balancer's keepalived.conf, and whether its switch is pending."""
    rc, out = dexec(lb, f"awk '$1 == \"vrrp_version\" || $1 == \"advert_int\" {{print $2}}' {CONF}; "
                        f"test -e {MARKER} && echo pending || true")
    assert rc == 0, out
    return out.split()


def _keepalived_pids(rig):
    return {lb: dexec(lb, "systemctl show -p MainPID --value keepalived")[1] for lb in rig.cluster.loadbalancers}


class HolderSampler(threading.Thread):
    """Every 0.2 s, which load balancers hold the VIP. Bounded: stops when told or after limit_s."""

    def __init__(self, rig, limit_s=900):
        super().__init__(daemon=True)
        self.rig, self.limit_s, self.samples, self.stop = rig, limit_s, [], threading.Event()

    def run(self):
        deadline = time.monotonic() + self.limit_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.samples.append(self.rig.vip_holders())
            time.sleep(0.2)


def test_switch_on_one_load_balancer_is_refused(rig):
    lb = next(iter(rig.cluster.loadbalancers))
    before = {n: _shared(n) for n in rig.cluster.loadbalancers}
    pids = _keepalived_pids(rig)
    proc, output, _recap = run_playbook_process(PLAYBOOK, "--limit", lb, *TAGS, *VRRP2)
    assert proc.returncode != 0, output[-3000:]
    assert "The VRRP settings both load balancers share change on" in output, output[-3000:]
    assert "vip_vrrp_version: 3 -> 2" in output and "vip_advert_int: 0.2 -> 1" in output, output[-3000:]
    assert {n: _shared(n) for n in rig.cluster.loadbalancers} == before, "keepalived.conf changed"
    assert _keepalived_pids(rig) == pids, "keepalived restarted"


def test_switch_under_load_keeps_the_vip_where_it_is(rig):
    c = rig.cluster
    run = uuid.uuid4().hex[:8]
    topic = f"e2e/vrrp/{run}/stream"
    holder = rig.vip_holder()
    since = {lb: clock(lb) for lb in c.loadbalancers}
    pids = _keepalived_pids(rig)
    pub = _resilient(rig.client(c.vip, c.port, client_id=f"vr-pub-{run}", clean_session=False)).connect()
    subs = {name: _resilient(rig.client(address, client_id=f"vr-sub-{name}-{run}", clean_session=False), topic,
                             qos=1, resubscribe="lost").connect().subscribe(topic, qos=1)
            for name, address in c.brokers.items()}
    stream = Stream(pub, topic, interval=0.02, limit=30000)
    sampler = HolderSampler(rig)
    results, shared = [], []
    try:
        stream.start()
        sampler.start()
        assert wait_until(lambda: all(len(s.received(topic)) >= 20 for s in subs.values()), 30), \
            "the stream did not reach every subscriber before the switch"
        for extra in (VRRP2, ()):
            started = time.monotonic()
            proc, output, recap = run_playbook_process(PLAYBOOK, *TAGS, *extra)
            results.append((proc.returncode, round(time.monotonic() - started, 1), output))
            shared.append({n: _shared(n) for n in c.loadbalancers})
        time.sleep(3)
    finally:
        stream.stop.set()
        sampler.stop.set()
        stream.join(10)
        sampler.join(10)
    for rc, _s, output in results:
        assert rc == 0, output[-5000:]
    wait_until(lambda: len(stream.acked()) == len(stream.sent), 60)
    acked = stream.acked()
    for sub in subs.values():
        wait_until(lambda s=sub: set(acked) <= set(s.received(topic)), 60)
    lost = {name: len(set(acked) - set(s.received(topic))) for name, s in subs.items()}
    transitions = {lb: [line for line in journal(lb, since[lb], tag="mosquitto-ha-vrrp").splitlines() if "now " in line]
                   for lb in c.loadbalancers}
    moved = [s for s in sampler.samples if s != [holder]]
    print(f"\n\nVRRP 3 (0.2 s) -> VRRP 2 (1 s) -> VRRP 3 under a QoS 1 stream of 50 msg/s through the VIP: runs "
          f"{[s for _rc, s, _o in results]} s, published {len(stream.sent)}, acknowledged {len(acked)}, lost per "
          f"broker subscriber {lost}, publisher reconnects {pub.connects - 1}, {len(sampler.samples)} samples, "
          f"{len(moved)} not [{holder}], VRRP transitions {transitions}")
    for client in [pub, *subs.values()]:
        client.close()

    assert [shared[0][n] for n in c.loadbalancers] == [["2", "1"]] * len(c.loadbalancers), shared
    assert [shared[1][n] for n in c.loadbalancers] == [["3", "0.2"]] * len(c.loadbalancers), shared
    assert len(stream.sent) > 300, "the stream was too short to mean anything"
    assert len(acked) == len(stream.sent), f"{len(stream.sent) - len(acked)} published messages never acknowledged"
    assert not any(lost.values()), f"acknowledged messages lost: {lost}"
    assert pub.connects == 1, f"the publisher through the VIP reconnected {pub.connects - 1} times"
    assert len(sampler.samples) > 20 and not moved, f"the VIP left {holder}: {moved[:10]}"
    assert not any(transitions.values()), f"keepalived changed state: {transitions}"
    assert _keepalived_pids(rig) == pids, "keepalived restarted instead of reloading"
    assert rig.settled(60), "the cluster is not healthy after the switch"
