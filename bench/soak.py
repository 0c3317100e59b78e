"""The VIP under a long client load with no fault: does anything move that should not?

For `duration` seconds (default 600) on the lab:
  * `publishers` QoS 1 streams through the VIP (persistent sessions, one message every `interval` s each);
  * a persistent QoS 1 subscriber on every broker counts what arrives of every stream (the bridge master
    relays what the VIP sent to the other broker);
  * a fresh TLS MQTT connection through the VIP publishes one QoS 1 message every `probe_interval` s;
  * the VIP holder is sampled every `sample_interval` s.
At the end it counts the VRRP transitions keepalived logged on each load balancer during the run (its notify
script logs every one with the tag mosquitto-ha-vrrp), the VIP moves, the samples with no holder or two, the
failed connects through the VIP, the acknowledged messages some subscriber did not get, and the daemons whose
main PID changed (a restart by systemd or the watchdog). Every loop is bounded; traffic goes only to the lab.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

TAG = "mosquitto-ha-vrrp"


@dataclasses.dataclass
class Soak:
    duration_s: float
    publishers: int
    interval_s: float
    sent: int = 0
    acked: int = 0
    lost: int = 0
    duplicates: int = 0
    publisher_reconnects: int = 0
    probes: int = 0
    probes_failed: int = 0
    samples: int = 0
    samples_not_one_holder: int = 0
    vip_moves: int = 0
    transitions: dict = dataclasses.field(default_factory=dict)  # load balancer -> logged transitions
    restarted: list = dataclasses.field(default_factory=list)  # "host unit" whose main PID changed
    vrrp: dict = dataclasses.field(default_factory=dict)

    @property
    def transitions_total(self):
        return sum(self.transitions.values())

    def line(self):
        return (f"soak {self.duration_s:.0f} s: VRRP transitions {self.transitions_total} {self.transitions}, "
                f"VIP moves {self.vip_moves}, samples without exactly one holder {self.samples_not_one_holder}/"
                f"{self.samples}, failed VIP connects {self.probes_failed}/{self.probes}, "
                f"messages {self.acked}/{self.sent} acked, lost {self.lost}, duplicates {self.duplicates}, "
                f"publisher reconnects {self.publisher_reconnects}, restarted {self.restarted or 'none'}")


def holder_figures(samples):
    """(samples without exactly one holder, VIP moves between single holders) of a list of holder tuples."""
    not_one = sum(1 for s in samples if len(s) != 1)
    singles = [s[0] for s in samples if len(s) == 1]
    moves = sum(1 for a, b in zip(singles, singles[1:]) if a != b)
    return not_one, moves


def _pids(rig):
    from faults import main_pid  # noqa: PLC0415

    cluster = rig.cluster
    units = [(n, "mosquitto") for n in list(cluster.brokers) + rig.bridge_relays()]
    units += [(n, u) for n in cluster.loadbalancers for u in ("nginx", "keepalived")]
    return {f"{n} {u}": main_pid(n, u) for n, u in units}


def run(cluster, duration=600.0, publishers=4, interval=0.05, probe_interval=1.0, sample_interval=0.5, log=print):
    """One soak on the lab as it is configured now. Returns a Soak."""
    from faults import Prober, Rig, Stream, _resilient, clock, journal  # noqa: PLC0415
    from mqttcheck import counts, wait_until  # noqa: PLC0415

    import failover  # noqa: PLC0415

    if duration * 1.0 / interval >= 20000:
        raise ValueError("each stream sends below 20000 messages (paho's message ids): raise interval or cut duration")
    rig = Rig(cluster, health_port=cluster.health_port)
    if not rig.settled(120):
        raise RuntimeError("the lab is not settled (every service up, one VIP holder): not soaking")
    result = Soak(duration_s=duration, publishers=publishers, interval_s=interval, vrrp=failover.vrrp_settings(cluster))
    run_id = uuid.uuid4().hex[:8]
    topic = f"bench/soak/{run_id}"
    since = {lb: clock(lb) for lb in cluster.loadbalancers}
    pids_before = _pids(rig)

    subs = []
    for name, address in cluster.brokers.items():
        sub = _resilient(rig.client(address, client_id=f"soak-sub-{name}-{run_id}", clean_session=False),
                         topic + "/#", qos=1, resubscribe="lost")
        sub.connect()
        sub.subscribe(topic + "/#", qos=1)
        subs.append(sub)
    pubs, streams = [], []
    for i in range(publishers):
        pub = _resilient(rig.client(cluster.vip, cluster.port, client_id=f"soak-pub-{i}-{run_id}", clean_session=False))
        pub.connect()
        pubs.append(pub)
        streams.append(Stream(pub, f"{topic}/{i}", interval=interval, limit=int(duration / interval) + 1))
    probe = Prober(lambda: rig.probe(cluster.vip, cluster.port, topic=topic + "-probe"), interval=probe_interval,
                   limit_s=duration)
    holders = []  # who holds the VIP, every sample_interval s (the prober's probe records and always succeeds)
    sampler = Prober(lambda: holders.append(tuple(rig.vip_holders())), interval=sample_interval, limit_s=duration)
    started = time.monotonic()
    try:
        for thread in [*streams, probe, sampler]:
            thread.start()
        while time.monotonic() - started < duration:
            time.sleep(min(30.0, max(0.0, duration - (time.monotonic() - started))))
            log(f"soak: {time.monotonic() - started:.0f}/{duration:.0f} s, "
                f"{sum(len(s.sent) for s in streams)} sent, {sum(1 for a in probe.attempts if not a[2])} failed probes")
    finally:
        for thread in [*streams, probe, sampler]:
            thread.stop.set()
        for thread in [*streams, probe, sampler]:
            thread.join(30)

    wait_until(lambda: all(len(s.acked()) == len(s.sent) for s in streams), 60)
    for i, stream in enumerate(streams):
        acked = set(stream.acked())
        wait_until(lambda: all(acked <= set(sub.received(f"{topic}/{i}")) for sub in subs), 60)  # noqa: B023
    time.sleep(1)  # let any duplicate arrive before counting
    for i, stream in enumerate(streams):
        acked = set(stream.acked())
        result.sent += len(stream.sent)
        result.acked += len(acked)
        for sub in subs:
            got = counts(sub.received(f"{topic}/{i}"))
            result.lost += len(acked - set(got))
            result.duplicates += sum(c - 1 for c in got.values() if c > 1)
    result.publisher_reconnects = sum(max(0, p.connects - 1) for p in pubs)
    for client in [*pubs, *subs]:
        client.close()
    result.probes = len(probe.attempts)
    result.probes_failed = sum(1 for a in probe.attempts if not a[2])
    result.samples = len(holders)
    result.samples_not_one_holder, result.vip_moves = holder_figures(holders)
    result.transitions = {lb: len([line for line in journal(lb, since[lb], tag=TAG).splitlines() if line.strip()])
                          for lb in cluster.loadbalancers}
    pids_after = _pids(rig)
    result.restarted = sorted(k for k, pid in pids_before.items() if pids_after.get(k) != pid)
    log(result.line())
    return result


def section(result, rerun):
    """BENCHMARKS.md lines for a Soak."""
    v = result.vrrp
    per_lb = ", ".join(f"{lb} {n}" for lb, n in sorted(result.transitions.items()))
    return [
        "## Soak",
        "",
        f"{result.duration_s:.0f} s with no fault under client load, VRRP {v.get('vrrp_version')} with "
        f"advert_int {v.get('advert_int')} ({'unicast' if v.get('unicast') else 'multicast'}): "
        f"{result.publishers} QoS 1 publishers through the VIP (persistent sessions, one message every "
        f"{result.interval_s * 1000:.0f} ms each), a persistent QoS 1 subscriber on every broker, a fresh TLS "
        "connection through the VIP every second, the VIP holder sampled every 0.5 s.",
        "",
        "| what | count |",
        "| --- | ---: |",
        f"| VRRP transitions logged by keepalived ({per_lb}) | {result.transitions_total} |",
        f"| VIP moves | {result.vip_moves} |",
        f"| samples with no VIP holder or two | {result.samples_not_one_holder} of {result.samples} |",
        f"| failed connects through the VIP | {result.probes_failed} of {result.probes} |",
        f"| acknowledged messages a subscriber did not get | {result.lost} (of {result.acked} acknowledged) |",
        f"| duplicates | {result.duplicates} |",
        f"| publisher reconnects | {result.publisher_reconnects} |",
        f"| daemons restarted (main PID changed) | {', '.join(result.restarted) or 'none'} |",
        "",
        f"Rerun this section alone: `{rerun}`.",
        "",
    ]
