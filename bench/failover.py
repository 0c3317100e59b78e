"""Failover figures on the lab: the faults of tests/e2e/faults.py (the `failover` molecule scenario), each
repeated, with median and max next to the reference anchors.

The lab is described to faults.py by LabCluster, the lab's counterpart of tests/e2e/cluster.py's Cluster: the
container names are the inventory host names (scripts/lab.sh), the addresses come from docker, the VIP from
the lab inventory and the MQTT user from the lab's generated password file.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time

import yaml
from cluster import Cluster  # tests/e2e is on sys.path (bench/run.py)

import lab as labenv
from stats import median_max

INVENTORY = labenv.INVENTORY

# The reference anchors, and which figure of which fault each stands next to.
ANCHOR_VRRP = 3.6   # keepalived VRRPv2 defaults (advert_int 1): the backup takes over about 3.6 s after the master dies
ANCHOR_PSGREP = 6.0  # a watchdog that looks for the process with ps | grep every 6 s
ANCHORS = {
    "broker_kill9": ("recovery", ANCHOR_PSGREP, "ps-grep loop: up to 6 s"),
    "bridge_kill9": ("recovery", ANCHOR_PSGREP, "ps-grep loop: up to 6 s"),
    "broker_sigstop": ("recovery", None, "ps-grep loop: never (a stopped process is still listed)"),
    "nginx_kill9": ("recovery", ANCHOR_PSGREP, "ps-grep loop: up to 6 s"),
    "keepalived_stop": ("vip", ANCHOR_VRRP, "VRRPv2 master dies: about 3.6 s"),
    "lb_container_kill": ("vip", ANCHOR_VRRP, "VRRPv2 master dies: about 3.6 s"),
    "broker_reboot": ("recovery", None, "none (a reboot)"),
    "bridge_node_kill": ("cross", None, "one bridge master: none until its node is repaired"),
}


def docker_address(name):
    out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
                         capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    if not out:
        raise RuntimeError(f"container {name} is not running: is the lab up (make lab)?")
    return out


@dataclasses.dataclass
class LabCluster(Cluster):
    """tests/e2e/cluster.py's Cluster (its fields and client()), for the lab, with the nginx health port."""

    health_port: int = 18883

    def vip_holder(self):
        from faults import holds_address  # noqa: PLC0415

        holders = [n for n in self.loadbalancers if holds_address(n, self.vip)]
        if len(holders) != 1:
            raise RuntimeError(f"the VIP {self.vip} is held by {holders or 'no load balancer'}")
        return holders[0]


def load_lab():
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    group_vars = labenv.group_vars()
    children = hosts["all"]["children"]

    def group(name):
        return {h: docker_address(h) for h in (children.get(name, {}).get("hosts") or {})}

    password_file = labenv.PASSWORD_FILE
    return LabCluster(
        inventory=str(INVENTORY),
        vip=str(group_vars["cluster_vip"]),
        port=int(group_vars.get("cluster_port", 8883)),
        broker_port=int(group_vars.get("cluster_broker_port", 8883)),
        cafile=str(labenv.CAFILE),
        brokers=group("brokers"),
        bridge=group("bridge"),
        loadbalancers=group("loadbalancers"),
        username=group_vars.get("lab_mqtt_username") if password_file.exists() else None,
        password=password_file.read_text().strip() if password_file.exists() else None,
        health_port=int(group_vars.get("cluster_lb_health_port", 18883)),
    )


def vrrp_settings(lab):
    """The VRRP version, advert interval and unicast/multicast the VIP holder's keepalived runs with."""
    from faults import dexec  # noqa: PLC0415

    holder = lab.vip_holder()
    _unused, conf = dexec(holder, "cat /etc/keepalived/keepalived.conf")
    version = advert = "?"
    for line in conf.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "vrrp_version":
            version = words[1]
        if len(words) == 2 and words[0] == "advert_int":
            advert = words[1]
    return {"vrrp_version": version, "advert_int": advert, "unicast": "unicast_peer" in conf}


def run_series(lab, repetitions, faults=None, log=print, time_limit=3600.0):
    """Each fault `repetitions` times (fault by fault in turn, so a slow drift hits every fault alike).
    Stops early (and says so) when the time limit passes. Returns {fault: [Result, ...]}."""
    from faults import FAULTS, Rig, inject  # noqa: PLC0415

    rig = Rig(lab, health_port=lab.health_port)
    if not rig.settled(120):
        raise RuntimeError("the lab is not healthy before the first fault")
    names = faults or list(FAULTS)
    results = {f: [] for f in names}
    deadline = time.monotonic() + time_limit
    for rep in range(repetitions):
        for fault in names:
            if time.monotonic() > deadline:
                log(f"failover: time limit ({time_limit:.0f} s) reached, stopping after {rep} repetitions")
                return results
            try:
                result = inject(rig, fault)
            except (AssertionError, RuntimeError, TimeoutError, OSError) as exc:
                log(f"failover {fault} #{rep + 1}: failed to measure: {exc}")
                from faults import Result  # noqa: PLC0415

                result = Result(fault=fault, target="?", notes=[f"not measured: {exc}"])
                start_stopped(lab, log)
                if not rig.settled(120):
                    raise RuntimeError(f"the lab did not settle after {fault}") from exc
            results[fault].append(result)
            log(f"failover {fault} #{rep + 1}: {result.line()}")
            for note in result.notes:
                log(f"    {note}")
    return results


def start_stopped(lab, log=print):
    """Start any lab container a failed measurement left stopped (e.g. after `docker kill`)."""
    for name in list(lab.brokers) + list(lab.bridge) + list(lab.loadbalancers):
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True,
                               text=True, check=False, timeout=30).stdout.strip()
        if state == "false":
            log(f"failover: starting {name} again")
            subprocess.run(["docker", "start", name], capture_output=True, check=False, timeout=120)


def _stats(values):
    """(median, max, how many are None) of one figure over the repetitions."""
    return (*median_max(values), sum(v is None for v in values))


def summary(results):
    """Per fault: median and max of vip_s, recovery_s, cross_s; totals of lost, duplicates."""
    rows = []
    for fault, rs in results.items():
        row = {"fault": fault, "n": len(rs)}
        for key in ("vip_s", "vip_outage_s", "recovery_s", "cross_s"):
            row[key] = _stats([getattr(r, key) for r in rs])
        row["lost"] = sum(r.lost for r in rs)
        row["duplicates"] = sum(r.duplicates for r in rs)
        row["acked"] = sum(r.acked for r in rs)
        row["published"] = sum(r.published for r in rs)
        row["sessions_lost"] = sum(r.sessions_lost for r in rs)
        row["notes"] = sorted({n for r in rs for n in r.notes if not n.endswith("rejoined in") and "rejoined" not in n})
        row["moves"] = sum(1 for r in rs if r.vip_holder_before and r.vip_holder_after
                           and r.vip_holder_before != r.vip_holder_after)
        rows.append(row)
    return rows


def plot(series, path):
    """series: [(label, rows)]; one panel per series; per fault median bars (VIP, recovery, cross) with the max
    as a tick, and the anchors as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(11, 4.2 * len(series)), squeeze=False)
    kinds = [("vip_s", "VIP: publish acknowledged again"), ("recovery_s", "process serving again"),
             ("cross_s", "cross-broker delivery again")]
    for ax, (label, rows) in zip(axes[:, 0], series):
        x = range(len(rows))
        for j, (key, name) in enumerate(kinds):
            xs = [i + (j - 1) * 0.27 for i in x]
            med = [r[key][0] if r[key][0] is not None else 0 for r in rows]
            mx = [r[key][1] if r[key][1] is not None else 0 for r in rows]
            ax.bar(xs, med, width=0.27, label=f"{name} (median)")
            ax.scatter(xs, mx, marker="_", s=160, color="black", zorder=3,
                       label="max over the repetitions" if j == 0 else None)
            for xi, r in zip(xs, rows):
                if r[key][0] is None:
                    ax.text(xi, 0.05, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.axhline(ANCHOR_VRRP, color="black", linestyle="--", linewidth=1,
                   label=f"anchor: VRRPv2 defaults, master dies ({ANCHOR_VRRP} s)")
        ax.axhline(ANCHOR_PSGREP, color="red", linestyle=":", linewidth=1,
                   label=f"anchor: 6 s ps-grep watchdog loop ({ANCHOR_PSGREP:.0f} s)")
        ax.set_xticks(list(x), [r["fault"].replace("_", "\n") for r in rows], fontsize=8)
        ax.set_ylabel("seconds after the fault")
        top = max([ANCHOR_PSGREP] + [r[k][1] for r in rows for k, _unused in kinds if r[k][1] is not None])
        ax.set_ylim(0, top * 1.5)  # room for the legend above the bars
        n = max((r["n"] for r in rows), default=0)
        ax.set_title(f"Failover: {label.split(' (')[0]} (median bars, max ticks; n = {n} per fault)")
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(stat):
    med, mx, missing = stat
    if med is None:
        return "n/a"
    text = f"{med:.2f} / {mx:.2f}"
    return text + (f" ({missing} n/a)" if missing else "")


def section(series, repetitions, plot_link):
    from faults import DESCRIPTIONS  # noqa: PLC0415

    lines = [
        "## Failover",
        "",
        f"The faults of the `failover` molecule scenario (tests/e2e/faults.py), {repetitions} "
        f"repetition{'s' if repetitions != 1 else ''} each, "
        "fault by fault",
        "in turn. During each, a QoS 1 stream (every 20 ms) goes through the VIP to a persistent subscriber on "
        "another broker;",
        "a fresh TLS MQTT connection through the VIP publishes one QoS 1 message every 100 ms; every broker "
        "publishes a",
        "timestamped probe to every other every 100 ms. Seconds after the fault, median / max:",
        "*VIP*: until a publish through the VIP is acknowledged again (0 when none failed); *process*: until the "
        "faulted",
        "process (or node) serves again; *cross-broker*: until every broker delivers to every other again. Lost: "
        "acknowledged",
        "QoS 1 messages the subscriber never got (all repetitions); duplicates likewise.",
        "",
    ]
    for label, rows in series:
        lines += [f"**{label}**", "",
                  "| fault | n | VIP (s) | process (s) | cross-broker (s) | anchor | lost | duplicates | VIP moved |",
                  "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for r in rows:
            anchor = ANCHORS.get(r["fault"], ("", None, ""))[2]
            lines.append(f"| {DESCRIPTIONS.get(r['fault'], r['fault'])} | {r['n']} | {_f(r['vip_s'])} | "
                         f"{_f(r['recovery_s'])} | {_f(r['cross_s'])} | {anchor} | {r['lost']} of {r['acked']} | "
                         f"{r['duplicates']} | {r['moves']} of {r['n']} |")
        notes = sorted({n for r in rows for n in r["notes"]})
        if notes:
            lines += ["", "Notes: " + "; ".join(notes[:10])]
        lines.append("")
    lines += [
        "Anchors: keepalived with VRRPv2 defaults (advert_int 1) gives the VIP to the backup about 3.6 s after the",
        "master dies (3 missed adverts plus skew); a watchdog that checks `ps | grep` every 6 s restarts a dead",
        "process within up to 6 s and never notices a hung one. For the lb_container_kill fault the *process* figure "
        "is",
        "the takeover: until the other load balancer holds the VIP (sampled every 50 ms, counted from before `docker "
        "kill`;",
        "the node stays down until the bench starts it again, and it rejoins as backup). Its *VIP* figure adds what a "
        "client",
        "whose connection attempt fell into the gap sees: its kernel sends the lost SYN again after 1 s.",
        "A fault repeated on one node more than `watchdog_max_restarts` (5) times within `watchdog_restart_window` "
        "(300 s)",
        "meets the watchdog's restart limit, meant for crash loops: the service then stays down until the window "
        "clears, and",
        "the *process* figure of those repetitions measures the limit, not the restart.",
        "",
    ]
    if plot_link:
        lines += [f"![failover]({plot_link})", ""]
    return lines
