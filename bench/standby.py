"""The standby bridge master on the lab, in one run: cross-broker throughput with one bridge master and with a
pair, then the time until cross-broker delivery is back after the active bridge node is killed.

1. Cross-broker QoS 1 throughput (publishers on broker 1, a subscriber on broker 2: every message crosses the
   bridge master) with the lab's single bridge master.
2. A spare container (started like scripts/lab.sh's nodes, bench/addbroker.py) joins the bridge group and
   site.yml makes the two a pair: keepalived runs mosquitto on one of them.
3. The same throughput with the pair.
4. The active bridge node is killed (`docker kill`) under the failover rig's QoS 1 stream (tests/e2e/faults.py,
   fault bridge_node_kill), `repetitions` times; it is started again after each and rejoins as standby.
5. site.yml with the lab's own inventory takes the lab back to one bridge master; the spare is deleted.
"""

from __future__ import annotations

import operator
import pathlib
import shutil
import tempfile

import addbroker
import failover
import lab
from stats import median_max, median_run

SPARE = lab.SPARE_BRIDGE
LAB_BRIDGE = lab.BRIDGE[0]


def measure(throughput, repetitions=5, runs=3, per_pub=5000, publishers=4, log=print):
    """Returns a dict of the figures; throughput is bench/run.py's."""
    from faults import Rig, inject  # noqa: PLC0415

    cluster = failover.load_lab()
    b1, b2 = list(cluster.brokers.values())[:2]

    def cross():
        results = [throughput(b1, 1, publishers, per_pub, timeout=120, sub_host=b2) for _unused in range(runs)]
        log(f"standby: cross-broker QoS 1 {[round(r[0]) for r in results]} msg/s")
        return results

    out = {"single": cross()}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-standby-"))
    try:
        addbroker.start_spare(*SPARE, addbroker._image())
        pair = addbroker.inventory(tmp / "pair", {"bridge": [LAB_BRIDGE, SPARE[0]]})
        seconds, _unused = lab.playbook("site.yml", pair)
        log(f"standby: site.yml made {LAB_BRIDGE} and {SPARE[0]} a pair in {seconds:.0f} s")
        out["pair_site_s"] = seconds
        cluster.bridge = {LAB_BRIDGE: cluster.bridge[LAB_BRIDGE], SPARE[0]: failover.docker_address(SPARE[0])}
        rig = Rig(cluster, health_port=cluster.health_port)
        if not rig.settled(120):
            raise RuntimeError("the lab did not settle with the bridge pair")
        out["pair"] = cross()
        out["takeovers"] = []
        for rep in range(repetitions):
            result = inject(rig, "bridge_node_kill")
            out["takeovers"].append(result)
            log(f"standby: takeover #{rep + 1}: {result.line()}")
            for note in result.notes:
                log(f"    {note}")
    finally:
        try:
            failover.start_stopped(cluster, log)
            seconds, _unused = lab.playbook("site.yml")
            log(f"standby: site.yml took the lab back to one bridge master in {seconds:.0f} s")
        finally:
            addbroker._run(["docker", "rm", "-f", SPARE[0]])
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def section(figures, runs, per_pub, publishers):
    rate = operator.attrgetter("rate")  # of throughput()'s results
    single, pair = median_run(figures["single"], rate), median_run(figures["pair"], rate)
    takeovers = figures["takeovers"]
    cross = [r.cross_s for r in takeovers if r.cross_s is not None]
    cross_median, cross_max = median_max(cross)
    lost = sum(r.lost for r in takeovers)
    acked = sum(r.acked for r in takeovers)
    duplicates = sum(r.duplicates for r in takeovers)
    rejoined = sum(1 for r in takeovers if any("rejoined as standby" in n for n in r.notes))
    moved = sum(1 for r in takeovers if any("moved" in n for n in r.notes))
    lines = [
        "## Standby bridge master",
        "",
        f"Cross-broker QoS 1 throughput: {publishers} `mosquitto_pub -l` processes send {per_pub} messages each to",
        "broker 1, one subscriber on broker 2 counts them (every message crosses the bridge master); "
        f"{runs} runs per setup,",
        "median reported and all listed. The pair's standby is idle: it adds no hop, only keepalived on both nodes.",
        "",
        "| bridge masters | cross-broker QoS 1 (msg/s) | ratio | all (msg/s) | delivered |",
        "| --- | ---: | ---: | --- | --- |",
        f"| one (the lab's) | {single[0]:.0f} | 1.00 | {', '.join(f'{r[0]:.0f}' for r in figures['single'])} | "
        f"{single[1]}/{single[2]} |",
        f"| active + standby | {pair[0]:.0f} | {pair[0] / single[0]:.2f} | "
        f"{', '.join(f'{r[0]:.0f}' for r in figures['pair'])} | {pair[1]}/{pair[2]} |",
        "",
        f"Takeover: the active bridge node killed (`docker kill`) {len(takeovers)} times under a QoS 1 stream (every",
        "20 ms) through the VIP to a persistent subscriber on the other broker, with every broker probing every",
        "other every 100 ms (tests/e2e/faults.py, fault `bridge_node_kill`, the `failover` scenario's fault). Seconds",
        "from the kill until every broker delivers to every other again:",
        "",
        "| n | median (s) | max (s) | all (s) | anchor | lost | duplicates | rejoined as standby | role moved back |",
        "| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
        f"| {len(takeovers)} | {cross_median:.2f} | {cross_max:.2f} | "
        f"{', '.join(f'{c:.2f}' for c in cross)} | one bridge master: none until its node is repaired; "
        f"target 5 s | {lost} of {acked} | {duplicates} | {rejoined} of {len(takeovers)} | {moved} |"
        if cross else f"| {len(takeovers)} | n/a | n/a | | | {lost} of {acked} | {duplicates} | {rejoined} | {moved} |",
        "",
        f"site.yml turned the lab's bridge master into a pair in {figures['pair_site_s']:.0f} s (a spare container "
        "joined the bridge group).",
        "",
    ]
    return lines
