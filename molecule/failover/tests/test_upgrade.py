"""upgrade.yml, the rolling upgrade: a restart-only run under a QoS 1 stream through the VIP loses nothing.

The restart-only run (upgrade_restart_only=true) goes through the same steps as an upgrade (drain, hand-overs,
restarts, waits) without package changes, so it can run on a converged cluster whose packages are up to date. While
it runs, a persistent-session publisher sends QoS 1 messages through the VIP (about 50 a second), a persistent QoS 1
subscriber on each broker counts what arrives, and a sampler reads every 0.2 s which load balancers hold the VIP and
which brokers each load balancer has drained.

A persistent subscriber connected through the VIP is measured too, not asserted: its session lives on one broker, and
when that broker is drained and restarted it reconnects through the VIP to another broker, which has no session for
it; what was published meanwhile and queued on the first broker arrives only if it comes back there (docs/upgrade.md).
The figures are printed and saved to $MOLECULE_EPHEMERAL_DIRECTORY/upgrade-results.json.
"""

import concurrent.futures
import json
import os
import re
import threading
import time
import uuid

import pytest
from cluster import run_playbook_process
from faults import Prober, Rig, Stream, _resilient, clock, dexec, journal, unit_active
from mqttcheck import counts, wait_until

PLAYBOOK = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "upgrade.yml")
VRRP_PENDING = "/run/mosquitto-ha-vrrp-pending"  # site.yml wrote shared VRRP settings the pair has not switched to
RESTART_DUE = {"mosquitto": "/run/mosquitto-ha-restart-due-mosquitto", "nginx": "/run/mosquitto-ha-restart-due-nginx"}
STREAM_INTERVAL = 0.02  # 50 messages a second
SAMPLE_INTERVAL = 0.2


@pytest.fixture(scope="module")
def rig(cluster):
    rig = Rig(cluster)
    assert rig.settled(120), "the cluster is not healthy before the upgrade"
    return rig


def _units(rig):
    """(node, unit) pairs the upgrade restarts; on a pair of bridge masters mosquitto runs on the relaying one only."""
    c = rig.cluster
    units = [(b, "mosquitto") for b in c.brokers]
    units += [(lb, u) for lb in c.loadbalancers for u in ("nginx", "keepalived")]
    if len(c.bridge) > 1:
        units += [(b, "keepalived") for b in c.bridge]
    else:
        units += [(b, "mosquitto") for b in c.bridge]
    return units


def _invocations(rig):
    ids = {}
    for node, unit in _units(rig) + [(b, "mosquitto") for b in rig.cluster.bridge]:
        ids[(node, unit)] = dexec(node, f"systemctl show -p InvocationID --value {unit}")[1]
    return ids


def _starts(node, unit, since):
    """How many times systemd started `unit` on `node` since `since` (its journal's "Started" lines)."""
    log = dexec(node, f"journalctl -u {unit}.service --since '{since}' --no-pager -o cat")[1]
    return sum(1 for line in log.splitlines() if line.startswith("Started "))


class Sampler(threading.Thread):
    """Every SAMPLE_INTERVAL s, reads on every load balancer (in parallel) whether it holds the VIP and which brokers
    its nginx.conf marks down. Bounded: stops when told or after limit_s."""

    def __init__(self, rig, limit_s=1500):
        super().__init__(daemon=True)
        self.rig, self.limit_s = rig, limit_s
        self.samples = []  # (time, [holders], {lb: [drained brokers]})
        self.stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(len(rig.cluster.loadbalancers))

    def _read(self, lb):
        cmd = (f"ip -4 -o addr show to {self.rig.cluster.vip}/32; echo ---; "
               "grep -E '^\\s*server .* down;' /etc/nginx/nginx.conf || true")
        rc, out = dexec(lb, cmd, timeout=10)
        vip, _sep, servers = out.partition("---")
        drained = re.findall(r"#\s*(\S+)\s*$", servers, flags=re.M)
        return lb, rc == 0 and bool(vip.strip()), drained

    def run(self):
        deadline = time.monotonic() + self.limit_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                reads = list(self.pool.map(self._read, self.rig.cluster.loadbalancers))
            except Exception:  # noqa: BLE001 (a read that fails is left out, the next one counts)
                reads = []
            if reads:
                self.samples.append((started, [lb for lb, holds, _d in reads if holds],
                                     {lb: d for lb, _h, d in reads}))
            time.sleep(max(0.0, SAMPLE_INTERVAL - (time.monotonic() - started)))
        self.pool.shutdown(wait=False)


def _longest_outage(prober):
    """Longest stretch (s) from a failed probe to the next successful one."""
    longest, failed_at = 0.0, None
    for started, ended, ok in list(prober.attempts):
        if not ok and failed_at is None:
            failed_at = started
        elif ok and failed_at is not None:
            longest = max(longest, ended - failed_at)
            failed_at = None
    return longest


def _recap_changed(recap):
    return {host: r.get("changed", 0) for host, r in recap.items()}


def test_check_mode_changes_nothing(rig):
    before = _invocations(rig)
    proc, output, recap = run_playbook_process(PLAYBOOK, "-e", "upgrade_restart_only=true", check=True)
    assert proc.returncode == 0, output[-3000:]
    assert recap and all(n == 0 for n in _recap_changed(recap).values()), _recap_changed(recap)
    assert "check mode: nothing is changed" in output
    assert _invocations(rig) == before, "a daemon restarted in check mode"


def test_refused_while_a_vrrp_switch_is_pending(rig):
    """A pending switch of the shared VRRP settings would load on one load balancer alone: refused, nothing changed."""
    lb = sorted(rig.cluster.loadbalancers)[-1]
    before = _invocations(rig)
    assert dexec(lb, f"test ! -e {VRRP_PENDING} && touch {VRRP_PENDING}")[0] == 0
    try:
        proc, output, recap = run_playbook_process(PLAYBOOK, "-e", "upgrade_restart_only=true")
    finally:
        dexec(lb, f"rm -f {VRRP_PENDING}")
    text = " ".join(output.split())
    assert proc.returncode != 0, output[-3000:]
    assert f"A switch of the VRRP settings both load balancers share is pending on {lb}:" in text, output[-3000:]
    assert "Run site.yml without --limit first" in text, output[-3000:]
    assert "PLAY [Brokers, one at a time]" not in output, output[-3000:]
    assert all(r.get("changed", 0) == 0 for r in recap.values()), _recap_changed(recap)
    assert _invocations(rig) == before, "a daemon restarted although the upgrade was refused"


def test_rolling_restart_under_load(rig):
    c = rig.cluster
    # A restart left due by an earlier site.yml run: the upgrade's restart loads that configuration and clears it.
    marked = {sorted(c.brokers)[0]: RESTART_DUE["mosquitto"], sorted(c.loadbalancers)[0]: RESTART_DUE["nginx"]}
    for node, mark in marked.items():
        assert dexec(node, f"touch {mark}")[0] == 0
    run = uuid.uuid4().hex[:8]
    topic = f"e2e/upgrade/{run}/stream"
    since = {n: clock(n) for n in list(c.brokers) + list(c.bridge) + list(c.loadbalancers)}
    before = _invocations(rig)
    relay_before = rig.active_bridge()
    holder_before = rig.vip_holder()

    pub = _resilient(rig.client(c.vip, c.port, client_id=f"ug-pub-{run}", clean_session=False)).connect()
    subs = {}
    for name, address in c.brokers.items():
        sub = _resilient(rig.client(address, client_id=f"ug-sub-{name}-{run}", clean_session=False), topic, qos=1,
                         resubscribe="lost")
        subs[name] = sub.connect().subscribe(topic, qos=1)
    vip_sub = _resilient(rig.client(c.vip, c.port, client_id=f"ug-vipsub-{run}", clean_session=False), topic,
                         qos=1, resubscribe="lost")
    vip_sub.connect().subscribe(topic, qos=1)

    stream = Stream(pub, topic, interval=STREAM_INTERVAL, limit=60000)  # below paho's 65535 message ids
    vip_probe = Prober(lambda: rig.probe(c.vip, c.port, topic=f"e2e/upgrade/{run}/probe"), interval=0.2,
                       limit_s=1500)
    sampler = Sampler(rig)
    started = time.monotonic()
    try:
        stream.start()
        vip_probe.start()
        sampler.start()
        assert wait_until(lambda: all(len(s.received(topic)) >= 20 for s in [*subs.values(), vip_sub]), 30), \
            "the stream did not reach every subscriber before the upgrade"
        time.sleep(1.5)  # the subscriptions are saved (autosave) before the first broker restarts
        proc, output, recap = run_playbook_process(PLAYBOOK, "-e", "upgrade_restart_only=true")
        run_s = time.monotonic() - started
        time.sleep(3)  # a little more stream after the run
    finally:
        stream.stop.set()
        stream.join(10)
        vip_probe.stop.set()
        sampler.stop.set()
        vip_probe.join(10)
        sampler.join(10)
    assert proc.returncode == 0, output[-5000:]

    # Every published message acknowledged, and every acknowledged one at every broker's persistent subscriber.
    wait_until(lambda: len(stream.acked()) == len(stream.sent), 60)
    acked = stream.acked()
    for sub in subs.values():
        wait_until(lambda s=sub: set(acked) <= set(s.received(topic)), 60)
    wait_until(lambda: set(acked) <= set(vip_sub.received(topic)), 10)
    time.sleep(1)
    lost = {name: sorted(set(acked) - set(s.received(topic)), key=int) for name, s in subs.items()}
    duplicates = {name: sum(n - 1 for n in counts(s.received(topic)).values() if n > 1) for name, s in subs.items()}
    vip_lost = sorted(set(acked) - set(vip_sub.received(topic)), key=int)
    for client in [pub, vip_sub, *subs.values()]:
        client.close()

    # What the sampler saw.
    max_holders = max((len(h) for _t, h, _d in sampler.samples), default=0)
    double = [i for i in range(1, len(sampler.samples))
              if len(sampler.samples[i][1]) > 1 and len(sampler.samples[i - 1][1]) > 1]
    max_drained = max((len(d) for _t, _h, per_lb in sampler.samples for d in per_lb.values()), default=0)
    max_drained_union = max((len({b for d in per_lb.values() for b in d}) for _t, _h, per_lb in sampler.samples),
                            default=0)
    drained_seen = {b for _t, _h, per_lb in sampler.samples for d in per_lb.values() for b in d}
    holders_seen = [h for _t, h, _d in sampler.samples]
    holder_after = rig.vip_holder()
    relay_after = rig.active_bridge()
    after = _invocations(rig)
    starts = {f"{node}/{unit}": _starts(node, unit, since[node]) for node, unit in _units(rig)}
    relay_starts = {b: _starts(b, "mosquitto", since[b]) for b in c.bridge}
    watchdog = {n: journal(n, since[n], unit="mosquitto-ha-watchdog") for n in since}
    watchdog_restarts = {n: [line for line in log.splitlines() if "restarting" in line] for n, log in watchdog.items()}

    figures = {
        "run_s": round(run_s, 1), "published": len(stream.sent), "acked": len(acked),
        "lost_per_broker_subscriber": {n: len(v) for n, v in lost.items()},
        "duplicates_per_broker_subscriber": duplicates,
        "vip_subscriber_lost": len(vip_lost), "vip_subscriber_sessions_lost": vip_sub.sessions_lost,
        "publisher_reconnects": pub.connects - 1,
        "longest_vip_publish_outage_s": round(_longest_outage(vip_probe), 2),
        "vip_probes": len(vip_probe.attempts),
        "samples": len(sampler.samples), "max_vip_holders_in_one_sample": max_holders,
        "max_drained_per_lb": max_drained, "max_drained_all_lbs": max_drained_union,
        "vip": f"{holder_before}->{holder_after}", "relay": f"{relay_before}->{relay_after}",
        "starts": starts, "relay_mosquitto_starts": relay_starts,
    }
    print("\n\nRolling restart (upgrade.yml -e upgrade_restart_only=true) under a QoS 1 stream of "
          f"{1 / STREAM_INTERVAL:.0f} msg/s through the VIP:")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    if vip_lost:
        print(f"  NOTE: the persistent subscriber through the VIP lost {len(vip_lost)} messages (sessions are per "
              f"broker; measured, not asserted): {vip_lost[:30]}")
    path = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "upgrade-results.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)
    print(f"  saved to {path}")

    assert len(stream.sent) > 500, f"the stream was too short to mean anything: {figures}"
    assert len(acked) == len(stream.sent), f"{len(stream.sent) - len(acked)} published messages never acknowledged"
    assert all(not v for v in lost.values()), f"acknowledged messages lost at a broker's subscriber: " \
        f"{ {n: v[:20] for n, v in lost.items()} }"
    assert all(s.sessions_lost == 0 for s in subs.values()), "a broker lost a persistent subscriber's session"
    # Every daemon restarted exactly once, and the watchdog restarted none of them.
    for key in after:
        node, unit = key
        if (node, unit) in _units(rig):
            assert after[key] and after[key] != before[key], f"{unit} on {node} did not restart"
    assert all(n == 1 for n in starts.values()), f"not every daemon started exactly once: {starts}"
    if len(c.bridge) > 1:
        # The relaying moved to the standby (a fresh mosquitto there); the old relay's mosquitto stays stopped.
        assert relay_after != relay_before, "the relaying did not move to the standby bridge master"
        assert relay_starts == {b: int(b == relay_after) for b in c.bridge}, relay_starts
    assert not any(watchdog_restarts.values()), f"the watchdog restarted something: {watchdog_restarts}"
    assert all(not unit_active(n, "mosquitto") for n in c.bridge if n != relay_after)
    # The VIP moved once, and never were two holders or two drained brokers seen.
    assert holder_after != holder_before, "the VIP did not move"
    assert not double, f"two load balancers held the VIP in consecutive samples: {[holders_seen[i] for i in double]}"
    assert max_drained <= 1, "a load balancer had two brokers drained at once"
    assert drained_seen == set(c.brokers), f"not every broker was drained during its restart: {drained_seen}"
    assert all(not d for d in sampler.samples[-1][2].values()), "a broker is still drained after the run"
    assert rig.settled(60), "the cluster is not healthy after the upgrade"
    left = {node: mark for node, mark in marked.items() if dexec(node, f"test -e {mark}")[0] == 0}
    assert not left, f"restart marks still there after the daemons restarted: {left}"


def test_package_run_on_up_to_date_hosts_changes_nothing(rig):
    before = _invocations(rig)
    proc, output, recap = run_playbook_process(PLAYBOOK)
    assert proc.returncode == 0, output[-3000:]
    assert recap and all(n == 0 for n in _recap_changed(recap).values()), _recap_changed(recap)
    assert "up to date" in output
    assert _invocations(rig) == before, "a daemon restarted although no package changed"
