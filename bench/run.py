"""Benchmarks of a mosquitto_ha cluster, run against the local lab (scripts/lab.sh).

Writes BENCHMARKS.md and PNG plots under bench/plots/. Every figure is measured in this run, next to the
anchor it is compared with (the same measurement straight to one broker, or the testbed's reference anchors
for the failover figures). Sections: throughput, latency, bridge master restart window (here), concurrent connections
through the VIP (ramp.py, connload.py, resources.py), failover (failover.py, reusing tests/e2e/faults.py), a soak
under client load with no fault (soak.py) and Ansible timings (here and addbroker.py). Traffic goes only to the
lab's containers; every loop is bounded in count and time.

    python bench/run.py [--quick] [--no-ansible] [--only ramp,failover] [--ramp 1000,3000] [--failover-reps 1]
                        [--failover-vrrp2] [--soak-seconds 600] [--ansible-add-broker] [--output FILE] [--plots DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import operator
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from mqttcheck import Client, wait_for_bridging, wait_until  # noqa: E402

import lab  # noqa: E402  (bench/, the script's own directory)
from stats import median_max, median_run, percentile  # noqa: E402

VIP, PORT, BROKERS, BRIDGE, CAFILE = lab.VIP, lab.PORT, lab.BROKERS, lab.BRIDGE, lab.CAFILE
PLOTS = ROOT / "bench" / "plots"
SAVED_ANSIBLE = ROOT / "bench" / "ansible-figures.json"
RAMP_SOURCES = 50  # extra source addresses of the ramp; the lab's /24 has room for 53 from .201
SOAK_SECONDS = 600
SECTIONS = ("throughput", "latency", "window", "autosave", "standby", "ramp", "failover", "soak", "ansible")


@dataclasses.dataclass
class Run:
    """What the sections of one run share: the options, where the report and its plots go, the Ansible figures."""

    args: argparse.Namespace
    output: pathlib.Path
    plots: pathlib.Path
    ansible: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_args(cls, args):
        output = pathlib.Path(args.output).resolve()
        default = output == (ROOT / "BENCHMARKS.md").resolve()
        plots = pathlib.Path(args.plots).resolve() if args.plots else (
            PLOTS if default else output.parent / f"{output.stem}-plots")
        return cls(args, output, plots)

    @property
    def only(self):
        return self.args.sections

    @property
    def quick(self):
        return self.args.quick

    @property
    def ramp_steps(self):
        return self.args.ramp or ([1000, 3000] if self.quick else [10000, 25000, 50000])

    @property
    def ramp_spare_brokers(self):
        return self.args.ramp_spare_brokers if self.args.ramp_spare_brokers is not None else (0 if self.quick else 2)

    @property
    def ansible_reps(self):
        return self.args.ansible_reps or (1 if self.quick else 5)

    @property
    def failover_reps(self):
        return self.args.failover_reps or (1 if self.quick else 5)

    @property
    def ansible_file(self):
        """Where this run's Ansible figures are kept. For `--no-ansible` runs only from runs that write the default
        output; others keep theirs next to their plots, so a smoke run never replaces the committed figures."""
        return SAVED_ANSIBLE if self.output == (ROOT / "BENCHMARKS.md").resolve() else self.plots / "ansible-figures.json"

    def link(self, name):
        """The path of a plot as the report links it."""
        return os.path.relpath(self.plots / name, self.output.parent)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller runs (a smoke-size benchmark; ramp 1000,3000 and 1 failover repetition "
                             "unless given)")
    parser.add_argument("--no-ansible", action="store_true",
                        help="skip the Ansible timings (no lab rebuild); reuse bench/ansible-figures.json")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to measure and write, of {','.join(SECTIONS)} "
                             "(default: all; the other sections are kept from the previous output, with their provenance)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--plots", default=None,
                        help="directory of the PNG plots and raw JSON results (default: bench/plots for the "
                             "default output, else <output>-plots next to it)")
    parser.add_argument("--ramp", type=int_list, default=None,
                        help="connection targets of the ramp through the VIP (default 10000,25000,50000)")
    parser.add_argument("--ramp-workers", type=int, default=None,
                        help="load processes (default: enough for the largest step under RLIMIT_NOFILE, at least 2)")
    parser.add_argument("--ramp-sources", type=int, default=RAMP_SOURCES,
                        help=f"extra source addresses added to the lab bridge for the ramp (default {RAMP_SOURCES}, at "
                             "most 53 in the lab's /24: the more, the more evenly nginx's hash of the client address "
                             "spreads them over the brokers)")
    parser.add_argument("--ramp-spare-brokers", type=int, default=None,
                        help="spare broker containers added with add_broker.yml for the ramp and removed after it "
                             "(0-2; default 2, 0 with --quick). The test containers cap every process at 20000 open "
                             "files, so each broker holds at most about 20000 connections: 50000 need 3 or more")
    parser.add_argument("--ramp-step-timeout", type=float, default=300.0, help="time limit of one ramp step (s)")
    parser.add_argument("--ramp-hold", type=float, default=15.0, help="seconds each step's connections are held")
    parser.add_argument("--ramp-concurrency", type=int, default=32,
                        help="connection attempts in flight per load process (default 32)")
    parser.add_argument("--ramp-keepalive", type=int, default=240,
                        help="MQTT keepalive of the ramp's connections (at most broker_max_keepalive, 300)")
    parser.add_argument("--failover-reps", type=int, default=None, help="repetitions of each fault (default 5)")
    parser.add_argument("--failover-faults", default=None,
                        help="comma-separated subset of the faults (bridge_node_kill needs a standby bridge master)")
    parser.add_argument("--failover-time-limit", type=float, default=3600.0,
                        help="stop the failover series after this many seconds (default 3600)")
    parser.add_argument("--failover-vrrp2", action="store_true",
                        help="also run the VIP faults (keepalived_stop, lb_container_kill) with VRRP 2, advert_int 1 "
                             "(site.yml -e; the settings before VRRP 3 became the default), then restore the lab's "
                             "settings with site.yml")
    parser.add_argument("--soak-seconds", type=int, default=None,
                        help=f"length of the soak under client load with no fault (default {SOAK_SECONDS}; 60 with "
                             "--quick)")
    parser.add_argument("--ansible-reps", type=int, default=None,
                        help="fresh deploys (each rebuilds the lab) and idempotent re-runs of site.yml (default 5)")
    parser.add_argument("--ansible-add-broker", action="store_true",
                        help="time add_broker.yml for 2 spare broker containers (removed again afterwards)")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    # A TERM (e.g. from timeout) unwinds like an exception, so the ramp removes its addresses and closes its
    # connections, and a VRRP 2 run restores the lab's settings.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Run.from_args(args)
    bench.plots.mkdir(parents=True, exist_ok=True)
    if {"throughput", "latency"} & set(bench.only):
        for tool in ("mosquitto_pub", "mosquitto_sub"):
            if not shutil.which(tool):
                sys.exit(f"{tool} is missing: apt-get install mosquitto-clients")
    bench.ansible = ansible_inputs(bench)  # first: measuring them rebuilds the lab
    if not CAFILE.exists():
        sys.exit("the lab is not up: make lab")
    sections = {name: SECTION_RUNNERS[name](bench) for name in SECTIONS if name in bench.only}
    write_benchmarks(bench, sections)
    print(f"wrote {bench.output} and {bench.plots}/*.png")
    return 0


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def ansible_inputs(bench):
    """The Ansible figures of the ansible section: measured now (the lab is taken down and brought up again), or
    with --no-ansible the saved ones; none when the section is not run."""
    if "ansible" not in bench.only:
        return {}
    if bench.args.no_ansible:
        return json.loads(SAVED_ANSIBLE.read_text()) if SAVED_ANSIBLE.exists() else {}
    previous = json.loads(bench.ansible_file.read_text()) if bench.ansible_file.exists() else {}
    figures = ansible_figures(bench.ansible_reps)
    figures["__previous"] = {k: stats_of(v)[0] for k, v in previous.items() if not k.startswith("__")}
    figures["__previous_measured"] = previous.get("__measured")
    figures["__measured"] = datetime.date.today().isoformat()
    bench.ansible_file.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


def add_broker_figures(bench):
    """With --ansible-add-broker: time add_broker.yml and remove_broker.yml into the Ansible figures, and keep them."""
    import addbroker  # noqa: PLC0415

    bench.ansible.update(addbroker.measure(log=print))
    bench.ansible["__add_broker_measured"] = datetime.date.today().isoformat()
    bench.ansible_file.write_text(json.dumps(bench.ansible, indent=1) + "\n")


def rerun_command(args):
    """The command line of this run, as each section's provenance line gives it (to measure it again alone)."""
    command = f"python bench/run.py{' --quick' if args.quick else ''}{' --no-ansible' if args.no_ansible else ''}"
    if args.only != ",".join(SECTIONS):
        command += f" --only {','.join(args.sections)}"
    spare_brokers = None if args.ramp_spare_brokers is None else str(args.ramp_spare_brokers)
    sources = args.ramp_sources if args.ramp_sources != RAMP_SOURCES else None
    options = (("--ramp", args.ramp and ",".join(map(str, args.ramp))), ("--failover-reps", args.failover_reps),
               ("--failover-faults", args.failover_faults), ("--soak-seconds", args.soak_seconds),
               ("--ramp-spare-brokers", spare_brokers), ("--ramp-sources", sources),
               ("--ansible-reps", args.ansible_reps))
    for flag, value in options:
        if value:
            command += f" {flag} {value}"
    command += "".join(f" {flag}" for flag, on in (("--failover-vrrp2", args.failover_vrrp2),
                                                   ("--ansible-add-broker", args.ansible_add_broker)) if on)
    return command


def write_benchmarks(bench, sections):
    """BENCHMARKS.md: the header, the sections measured now (with their provenance) and the others kept from the
    previous file, in SECTIONS order, then what was not measured."""
    provenance = f"Measured {datetime.date.today().isoformat()}{commit_note()} by `{rerun_command(bench.args)}`."
    kept = {} if set(bench.only) == set(SECTIONS) else earlier_sections(bench.output)
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` against the local lab: five systemd containers (Debian 12) on one machine",
        f"({os.cpu_count()} cores, {cpu}); the load generators run on the same machine and share its cores with all",
        "five nodes, so absolute figures are those of a laptop-sized lab. The ratios are what to read: each figure",
        "stands next to its anchor measured in the same run. Each section says when, at which commit and by which",
        "command it was measured: `make bench` measures all of them in one run; `--only` re-measures some and keeps",
        "the others from the previous file.",
        "",
    ]
    for name in SECTIONS:
        if sections.get(name):  # the ansible section is empty without figures
            lines += section_with_provenance(sections[name], provenance)
        elif name in kept:
            lines += kept[name]
    missing = []
    if "ramp" not in sections and "ramp" not in kept:
        missing.append("- Concurrent connections held through the VIP: not run (`--only` without ramp).")
    if "failover" not in sections and "failover" not in kept:
        missing.append("- Failover figures: not run (`--only` without failover).")
    if "ansible" in sections and not any(k.startswith("add_broker") for k in bench.ansible):
        missing.append("- add-broker of 2 brokers: not measured in this run (`--ansible-add-broker`); the `scale_out` "
                       "molecule scenario prints its own figure.")
    if missing:
        lines += ["## Not measured", "", *missing, ""]
    bench.output.write_text("\n".join(lines))


# Each section of BENCHMARKS.md starts with its heading and a provenance line (when, at which commit, by which
# command); a run with --only replaces its sections and keeps the others from the previous file.
SECTION_HEADINGS = {
    "throughput": "## Throughput",
    "latency": "## End-to-end latency",
    "window": "## Bridge master restart window",
    "autosave": "## Saving on every change",
    "standby": "## Standby bridge master",
    "ramp": "## Concurrent connections",
    "failover": "## Failover",
    "soak": "## Soak",
    "ansible": "## Ansible",
}
PROVENANCE = re.compile(r"^\*Measured \S+.* by `.*`\.\*$")


def commit_note():
    """' at <short commit>' of this checkout (with '+changes' when the tree differs from it), or ''."""
    head = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    if head.returncode != 0:
        return ""
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "roles", "playbooks",
                 "plugins", "bench", "tests/e2e", "scripts", ":(exclude)*.md", ":(exclude)bench/plots",
                 ":(exclude)bench/ansible-figures.json"])  # the run's own output is not a change of what ran
    return f" at {head.stdout.strip()}{'+changes' if dirty.stdout.strip() else ''}"


def section_with_provenance(section, provenance):
    """The section's heading, its provenance line in italics, then the rest of it."""
    return [section[0], "", f"*{provenance}*", *section[1:]]


def earlier_sections(path):
    """The sections of an earlier BENCHMARKS.md by name, each with its provenance line. A section written before
    provenance lines existed gets one from that file's header ("Measured on <date> by `make bench` (`<cmd>`)")."""
    if not path.exists():
        return {}
    text = path.read_text().splitlines()
    header = next((re.search(r"Measured on (\S+) by `make bench` \(`([^`]*)`\)", line) for line in text
                   if line.startswith("Measured on ")), None)
    out, current = {}, None
    for line in text:
        if line.startswith("## "):
            current = next((name for name, heading in SECTION_HEADINGS.items() if line.startswith(heading)), None)
            if current:
                out[current] = []
        if current:
            out[current].append(line)
    for name, lines in out.items():
        if not any(PROVENANCE.match(line) for line in lines[:4]) and header:
            out[name] = section_with_provenance(lines, f"Measured {header.group(1)} by `{header.group(2)}`.")
    return out


# --- sections: each measures and returns its lines of BENCHMARKS.md ---------------------------------------

def throughput_section(bench):
    # 4 x 20000 stays below broker_max_queued_messages (100000): a QoS 1 subscriber that falls behind loses
    # nothing to queue overflow, so the figure is throughput, not drops.
    per_pub = 5000 if bench.quick else 20000
    publishers = 4
    reps = 1 if bench.quick else 3
    direct_host = next(iter(BROKERS.values()))
    tp_rows = []
    for qos in (0, 1):
        ds, vs = [], []
        for _unused in range(reps):  # alternate, so drift on a noisy machine hits both sides alike
            ds.append(throughput(direct_host, qos, publishers, per_pub))
            vs.append(throughput(VIP, qos, publishers, per_pub))
        d, v = median_run(ds, RATE), median_run(vs, RATE)
        tp_rows.append({"label": f"QoS {qos}", "qos": qos, "direct": d.rate, "vip": v.rate, "d": d, "v": v,
                        "all_d": [r.rate for r in ds], "all_v": [r.rate for r in vs]})
        print(f"throughput QoS {qos}: direct {[round(r.rate) for r in ds]} msg/s, VIP {[round(r.rate) for r in vs]} msg/s")
    plot_throughput(tp_rows, bench.plots / "throughput.png")
    lines = [
        "## Throughput: through the VIP vs straight to one broker",
        "",
        f"{publishers} `mosquitto_pub -l` processes send {per_pub} messages each (64-byte payload) to one topic; one",
        f"subscriber counts them; {reps} alternating repetitions per side, the median is reported and all are listed.",
        "The `mosquitto_sub` is on the same broker. *Direct*: publishers and subscriber connect to broker 1 (the",
        "limit, 1.0). *VIP*: they connect to the VIP, and nginx leads them all to one broker (hash of the source",
        "address, the same for every client on this machine). Messages per second delivered to the subscriber.",
        "",
        "| QoS | direct (msg/s) | VIP (msg/s) | VIP / direct | all direct | all VIP |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in tp_rows:
        lines.append(f"| {r['qos']} | {r['direct']:.0f} | {r['vip']:.0f} | {r['vip'] / r['direct']:.2f} | "
                     f"{', '.join(f'{x:.0f}' for x in r['all_d'])} | {', '.join(f'{x:.0f}' for x in r['all_v'])} |")
    lines += [
        "",
        f"Delivered of sent in the median runs: direct {tp_rows[0]['d'][1]}/{tp_rows[0]['d'][2]} and VIP "
        f"{tp_rows[0]['v'][1]}/{tp_rows[0]['v'][2]} at QoS 0, direct {tp_rows[1]['d'][1]}/{tp_rows[1]['d'][2]} and VIP "
        f"{tp_rows[1]['v'][1]}/{tp_rows[1]['v'][2]} at QoS 1 (QoS 0 may drop when a queue overflows).",
        "",
    ]
    if any(r["vip"] > r["direct"] for r in tp_rows):
        lines += [
            "The VIP side came out ahead here. Both sides end in the same single broker on a 2-core machine shared",
            "with the load generators, so the direct figure is no hard ceiling; a plausible contributor is nginx",
            "relaying the clients' many small TLS records in larger TCP segments (fewer reads at the broker). What",
            "the figure does show: the extra hop through nginx costs no throughput at this scale.",
        ]
    lines += ["", f"![throughput]({bench.link('throughput.png')})", ""]
    return lines


def latency_section(bench):
    count = 300 if bench.quick else 2000
    b1, b2 = list(BROKERS.values())[:2]
    lat = {
        "same broker": latency(b1, b1, count),
        "across brokers\n(bridge master)": latency(b1, b2, count),
        "through the VIP": latency(VIP, VIP, count),
    }
    percentiles = {name: [percentile(values, p) for p in (50, 95, 99)] for name, values in lat.items()}
    for name, (p50, p95, p99) in percentiles.items():
        print(f"latency {name!r}: n={len(lat[name])} p50 {p50:.2f} p95 {p95:.2f} p99 {p99:.2f} ms")
    plot_latency(lat, bench.plots / "latency.png")
    lines = [
        "## End-to-end latency (QoS 1)",
        "",
        f"{count} messages at 200/s, each stamped with the send time; publisher and subscriber run on one clock.",
        "*Same broker*: both on broker 1 (the anchor). *Across brokers*: publish on broker 1, subscribe on broker 2,",
        "through the bridge master. *Through the VIP*: both through nginx.",
        "",
        "| path | n | p50 (ms) | p95 (ms) | p99 (ms) | p50 / same broker |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = percentiles["same broker"][0]
    for name, (p50, p95, p99) in percentiles.items():
        lines.append(f"| {name.replace(chr(10), ' ')} | {len(lat[name])} | {p50:.2f} | {p95:.2f} | {p99:.2f} | "
                     f"{p50 / base:.2f} |")
    lines += ["", f"![latency]({bench.link('latency.png')})", ""]
    return lines


def window_section(bench):
    windows = bridge_restart_window(3 if bench.quick else 5)
    median, longest = median_max(windows)
    print(f"bridge master restart window: {', '.join(f'{w:.2f}' for w in windows)} s")
    return [
        "## Bridge master restart window",
        "",
        "add_broker.yml and remove_broker.yml restart the bridge master (mosquitto 2.0 cannot reload bridges).",
        "Measured: seconds from `systemctl restart mosquitto` on it until a QoS 0 probe published on broker 1",
        "arrives at a subscriber on broker 2 again. QoS 1/2 messages published in this window wait in the brokers'",
        "queues for the bridge sessions and flow afterwards (the scale_out test asserts none is lost).",
        "",
        "| repetitions | median (s) | max (s) | all (s) |",
        "| ---: | ---: | ---: | --- |",
        f"| {len(windows)} | {median:.2f} | {longest:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in windows)} |",
        "",
    ]


def set_bridge_autosave_on_changes(on):
    """Switch autosave_on_changes in the bridge master's mosquitto.conf and restart it; wait until bridged
    delivery works again. autosave_section puts the lab's value back afterwards (as would site.yml)."""
    value = "true" if on else "false"
    proc = run(["docker", "exec", BRIDGE[0], "sh", "-c",
                f"sed -i 's/^autosave_on_changes .*/autosave_on_changes {value}/' /etc/mosquitto/mosquitto.conf"
                " && systemctl reset-failed mosquitto && systemctl restart mosquitto"
                " && grep -x 'autosave_on_changes " + value + "' /etc/mosquitto/mosquitto.conf"])
    if proc.returncode != 0:
        raise RuntimeError(f"could not set autosave_on_changes {value} on {BRIDGE[0]}: {proc.stderr or proc.stdout}")
    b1, b2 = list(BROKERS.values())[:2]
    topic = f"bench/autosave/{uuid.uuid4().hex[:8]}"
    sub = client(b2).subscribe(topic, qos=1)
    pub = client(b1)
    try:
        wait_for_bridging(pub, [sub], topic, timeout=60)  # raises TimeoutError when it does not resume
    finally:
        pub.close()
        sub.close()


def autosave_section(bench):
    """Cross-broker QoS 1 throughput with the bridge master saving its database on every change
    (autosave_on_changes, autosave_interval 1) next to the default (a save every second)."""
    per_pub, publishers, reps = (2000, 4, 1) if bench.quick else (5000, 4, 3)
    b1, b2 = list(BROKERS.values())[:2]
    results = {False: [], True: []}
    configured = run(["docker", "exec", BRIDGE[0], "grep", "-qx", "autosave_on_changes true",
                      "/etc/mosquitto/mosquitto.conf"]).returncode == 0
    try:
        for _unused in range(reps):  # alternate, so drift on a noisy machine hits both sides alike
            for on in (False, True):
                set_bridge_autosave_on_changes(on)
                results[on].append(throughput(b1, 1, publishers, per_pub, timeout=120, sub_host=b2))
    finally:
        set_bridge_autosave_on_changes(configured)
    base, each = median_run(results[False], RATE), median_run(results[True], RATE)
    print(f"autosave: every second {[round(r.rate) for r in results[False]]} msg/s, "
          f"on every change {[round(r.rate) for r in results[True]]} msg/s")
    return [
        "## Saving on every change",
        "",
        "mosquitto 2.0 saves its in-memory database as a whole, by default every `broker_autosave_interval`",
        "(1 s). What a relaying mosquitto acknowledged since the last save and had not yet passed on is lost if it",
        "is killed with `kill -9` (see docs/architecture.md, failure table). `broker_autosave_on_changes: true` saves after",
        "every `broker_autosave_interval` changes instead, with 1 after every queued message, which narrows that",
        f"window. Its price, measured here on the bridge master: {publishers} `mosquitto_pub -l` processes send",
        f"{per_pub} QoS 1 messages each to broker 1, one subscriber on broker 2 counts them (every message crosses",
        f"the bridge master); {reps} alternating repetitions per setting, median reported and all listed.",
        "",
        "| bridge master saves | cross-broker QoS 1 (msg/s) | ratio | all (msg/s) | delivered |",
        "| --- | ---: | ---: | --- | --- |",
        f"| every second (default) | {base.rate:.0f} | 1.00 | {', '.join(f'{r.rate:.0f}' for r in results[False])} | "
        f"{base.received}/{base.sent} |",
        f"| on every change | {each.rate:.0f} | {each.rate / base.rate:.2f} | "
        f"{', '.join(f'{r.rate:.0f}' for r in results[True])} | {each.received}/{each.sent} |",
        "",
        "Every save writes and fsyncs the whole database, so the cost grows with the queues it holds. The default",
        "stays a save per second; a cluster whose message rate is far below the figure above can set",
        "`broker_autosave_on_changes: true` for its bridge master (host_vars) to narrow the `kill -9` window.",
        "",
    ]


def standby_section(bench):
    """Throughput with one bridge master and with a pair, and the takeover after the active node is killed."""
    import standby  # noqa: PLC0415

    runs, per_pub, publishers = (1, 2000, 4) if bench.quick else (3, 5000, 4)
    figures = standby.measure(throughput, repetitions=bench.failover_reps, runs=runs, per_pub=per_pub,
                              publishers=publishers)
    return standby.section(figures, runs, per_pub, publishers)


def ramp_section(bench):
    import addbroker  # noqa: PLC0415
    import failover  # noqa: PLC0415
    import ramp  # noqa: PLC0415

    args = bench.args
    with addbroker.joined(failover.load_lab(), bench.ramp_spare_brokers) as cluster:
        result = ramp.Ramp(cluster, bench.ramp_steps, workers=args.ramp_workers, sources=args.ramp_sources,
                           keepalive=args.ramp_keepalive, step_timeout=args.ramp_step_timeout,
                           hold=args.ramp_hold, concurrency=args.ramp_concurrency).run()
    (bench.plots / "ramp.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    path = bench.plots / "connections.png"
    plotted = ramp.plot(result, path)
    return ramp.section(result, bench.link(path.name) if plotted else None)


def failover_section(bench):
    import failover  # noqa: PLC0415
    from faults import FAULTS, STANDBY_FAULTS  # noqa: PLC0415

    args, reps = bench.args, bench.failover_reps
    cluster = failover.load_lab()
    standby = len(cluster.bridge) > 1
    faults = ([f.strip() for f in args.failover_faults.split(",")] if args.failover_faults
              else [f for f in FAULTS if standby or f not in STANDBY_FAULTS])
    unknown = set(faults) - set(FAULTS)
    if unknown:
        sys.exit(f"unknown faults {sorted(unknown)}; choose from {','.join(FAULTS)}")
    series = []
    raw = {}

    def measure(cluster, label, faults):
        """One series of the faults on the lab as it is configured now, under `label`."""
        settings = failover.vrrp_settings(cluster)
        label = label.format(f"VRRP {settings['vrrp_version']}, advert_int {settings['advert_int']}, "
                             f"{'unicast' if settings['unicast'] else 'multicast'}")
        results = failover.run_series(cluster, reps, faults, time_limit=args.failover_time_limit)
        series.append((label, failover.summary(results)))
        raw[label] = {f: [r.as_dict() for r in rs] for f, rs in results.items()}

    measure(cluster, "the lab as configured: {}", faults)
    if args.failover_vrrp2:
        extra = ["-e", "vip_vrrp_version=2", "-e", "vip_advert_int=1"]
        try:
            site(extra)
            # Only the faults whose figures the VRRP settings decide: the VIP holder's keepalived or node goes away.
            measure(failover.load_lab(),
                    f"{{}} (site.yml -e {' '.join(extra[1::2])}; the defaults before VRRP 3)",
                    [f for f in faults if f in VRRP_FAULTS] or faults)
        finally:
            site([])  # back to the lab's own settings
    (bench.plots / "failover.json").write_text(json.dumps(raw, indent=1) + "\n")
    path = bench.plots / "failover.png"
    failover.plot(series, path)
    return failover.section(series, reps, bench.link(path.name))


def soak_section(bench):
    import failover  # noqa: PLC0415
    import soak  # noqa: PLC0415

    seconds = bench.args.soak_seconds or (60 if bench.quick else SOAK_SECONDS)
    result = soak.run(failover.load_lab(), duration=seconds)
    (bench.plots / "soak.json").write_text(json.dumps(dataclasses.asdict(result), indent=1) + "\n")
    alone = "python bench/run.py --no-ansible --only soak" + (f" --soak-seconds {seconds}" if seconds != SOAK_SECONDS
                                                              else "")
    return soak.section(result, alone)


VRRP_FAULTS = ("keepalived_stop", "lb_container_kill")


def site(extra):
    """site.yml on the lab with extra arguments (e.g. -e name=value)."""
    seconds, _changed = lab.playbook("site.yml", lab.INVENTORY, *extra)
    print(f"site.yml {' '.join(extra)} took {seconds:.0f} s")


def ansible_runner(bench):
    """The ansible section: the figures measured before the other sections, and add_broker.yml's if asked for."""
    if bench.args.ansible_add_broker:
        add_broker_figures(bench)
    return ansible_section(bench.ansible)


# The targets of each playbook run on the 5-node lab (seconds): the anchor of the Ansible figures.
ANSIBLE_TARGETS = {"site.yml, fresh, 5 hosts": 120, "site.yml, re-run (changed=0)": 30, "add_broker.yml, 2 brokers": 60}


def stats_of(value):
    """(median, max, runs) of a figure saved as a list of runs, or as one number (older files, single runs)."""
    values = value if isinstance(value, list) else [value]
    return (*median_max(values), len(values))


def ansible_section(ansible):
    if not ansible:
        return []
    previous = ansible.get("__previous", {})
    since = ansible.get("__previous_measured")
    lines = [
        "## Ansible",
        "",
        "Seconds on the lab (docker connection, pipelining, forks 10). Fresh: `make lab` from no containers (each run",
        "rebuilds the lab); re-run: site.yml again with nothing to change.",
        "",
        f"| what | median | max | runs | previous{f' ({since})' if since else ''} | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for k, v in ansible.items():
        if k.startswith("__"):
            continue
        med, mx, n = stats_of(v)
        before = f"{previous[k]:.0f}" if k in previous else ""
        target = f"<= {ANSIBLE_TARGETS[k]}" if k in ANSIBLE_TARGETS else ""
        lines.append(f"| {k} | {med:.0f} | {mx:.0f} | {n} | {before} | {target} |")
    lines += ["", f"The re-runs reported changed={ansible.get('__rerun_changed')} in total. Measured "
              f"{ansible.get('__measured', 'in this run')} (bench/ansible-figures.json; `--no-ansible` reuses it)."]
    if "__add_broker_measured" in ansible:
        lines.append(f"add_broker.yml / remove_broker.yml measured {ansible['__add_broker_measured']} on two spare "
                     "broker containers started for it (bench/addbroker.py); " + ansible.get("__add_broker_note", ""))
    profile = ansible.get("__profile") or []
    if profile:
        lines += ["", "The ten slowest tasks of the last re-run (ansible.posix.profile_tasks; a task's time is the "
                  "longest of its hosts, and a task of the one-at-a-time plays appears once per batch):", "",
                  "| task | seconds |", "| --- | ---: |"]
        lines += [f"| {task} | {seconds:.2f} |" for task, seconds in profile[:10]]
    lines.append("")
    return lines


SECTION_RUNNERS = {
    "throughput": throughput_section,
    "latency": latency_section,
    "window": window_section,
    "autosave": autosave_section,
    "standby": standby_section,
    "ramp": ramp_section,
    "failover": failover_section,
    "soak": soak_section,
    "ansible": ansible_runner,
}


# --- measurements -----------------------------------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def client(host):
    """An MQTT client of the lab's user, connected to host:PORT with TLS."""
    return Client(host, PORT, str(CAFILE), **lab.credentials()).connect()


class Throughput(typing.NamedTuple):
    """One throughput() run: messages/s delivered, messages received and sent, seconds."""

    rate: float
    received: int
    sent: int
    seconds: float


RATE = operator.attrgetter("rate")  # the key of the median run


def throughput(host, qos, publishers, per_publisher, payload=64, timeout=60, sub_host=None):
    """Messages/s delivered to one subscriber on `sub_host` (default `host`) from `publishers` mosquitto_pub
    processes on `host`.

    Publisher and subscriber both use `host` (one broker, or the VIP, which leads every connection from this
    machine to the same broker) unless sub_host is another broker."""
    total = publishers * per_publisher
    topic = f"bench/tp/{uuid.uuid4().hex[:8]}"
    user = lab.credentials()
    login = ["-p", str(PORT), "--cafile", str(CAFILE), "-u", user["username"], "-P", user["password"]]
    tls = ["-h", host, *login]
    sub_tls = ["-h", sub_host or host, *login]
    body = ("x" * payload + "\n") * per_publisher
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(body)
        lines = handle.name
    sub = subprocess.Popen(["mosquitto_sub", *sub_tls, "-t", topic, "-q", str(qos), "-C", str(total),
                            "-W", str(timeout), "-i", f"bench-sub-{uuid.uuid4().hex[:6]}"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)  # subscribed before the first message
    started = time.monotonic()
    pubs = [subprocess.Popen(["mosquitto_pub", *tls, "-t", topic, "-q", str(qos), "-l",
                              "-i", f"bench-pub-{i}-{uuid.uuid4().hex[:6]}"],
                             stdin=open(lines), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(publishers)]
    received = 0
    last = started
    for _unused in sub.stdout:
        received += 1
        last = time.monotonic()
    sub.wait(timeout + 10)
    for p in pubs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    os.unlink(lines)
    seconds = max(last - started, 1e-6)
    return Throughput(received / seconds, received, total, seconds)


def latency(pub_host, sub_host, count, rate=200.0, qos=1):
    """End-to-end latency (ms) of `count` QoS 1 messages from a publisher on pub_host to a subscriber on
    sub_host, both on this machine (one clock)."""
    topic = f"bench/lat/{uuid.uuid4().hex[:8]}"
    sub = client(sub_host)
    samples = []
    lock = threading.Lock()

    warm = []

    def on_message(_c, _u, msg):
        now = time.perf_counter_ns()
        tag, sent = msg.payload.decode().split(":", 1)
        with lock:
            (warm if tag == "w" else samples).append((now - int(sent)) / 1e6)

    sub.mqtt.on_message = on_message
    sub.subscribe(topic, qos=qos)
    pub = client(pub_host)
    try:
        # Warm up until the path (maybe a bridge) delivers.
        wait_until(lambda: (pub.mqtt.publish(topic, f"w:{time.perf_counter_ns()}", qos=qos) and False) or warm,
                   30, interval=0.2)
        for i in range(count):
            pub.mqtt.publish(topic, f"{i}:{time.perf_counter_ns()}", qos=qos)
            time.sleep(1.0 / rate)
        wait_until(lambda: len(samples) >= count, 30)
    finally:
        pub.close()
        sub.close()
    return sorted(samples)


def bridge_restart_window(repetitions):
    """Seconds from `systemctl restart mosquitto` on the bridge master until a message published on broker 1
    reaches a subscriber on broker 2 again (the window in which cross-broker delivery waits in queues). Each planned
    restart clears systemd's start counter first, as the watchdog does: this section and the next restart the bridge
    master more often than systemd's default start limit (5 starts in 10 s) allows."""
    b1, b2 = list(BROKERS.values())[:2]
    topic = f"bench/window/{uuid.uuid4().hex[:8]}"
    sub = client(b2).subscribe(topic + "/#", qos=1)
    pub = client(b1)
    windows = []
    try:
        for rep in range(repetitions):
            time.sleep(2)
            started = time.monotonic()
            proc = run(["docker", "exec", BRIDGE[0], "sh", "-c",
                        "systemctl reset-failed mosquitto && systemctl restart mosquitto"])
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr)
            n = 0
            deadline = started + 60
            probe = f"{topic}/r{rep}"
            while time.monotonic() < deadline:
                pub.mqtt.publish(probe, str(n), qos=0)
                n += 1
                if wait_until(lambda: sub.received(probe), 0.05, interval=0.01):
                    break
            windows.append(time.monotonic() - started)
    finally:
        pub.close()
        sub.close()
    return windows


def ansible_figures(reps):
    """Fresh deploys (lab down, lab up) and idempotent re-runs of site.yml, `reps` of each; the last re-run profiled."""
    _argv, env = lab.playbook_command("site.yml")
    out = {"lab up (containers, site.yml, smoke check)": [], "site.yml, fresh, 5 hosts": [],
           "site.yml, re-run (changed=0)": []}
    for rep in range(reps):
        run([str(ROOT / "scripts" / "lab.sh"), "down"])
        started = time.monotonic()
        proc = run([str(ROOT / "scripts" / "lab.sh"), "up"], env=env, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError("lab up failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:])
        out["lab up (containers, site.yml, smoke check)"].append(time.monotonic() - started)
        match = re.search(r"site.yml took (\d+) s", proc.stderr + proc.stdout)
        if match:
            out["site.yml, fresh, 5 hosts"].append(float(match.group(1)))
        print(f"ansible: fresh deploy #{rep + 1}: {match.group(1) if match else '?'} s")
    changed, profile = 0, []
    for rep in range(reps):
        seconds, changed_now = lab.playbook("site.yml", profile=profile if rep == reps - 1 else None)
        out["site.yml, re-run (changed=0)"].append(seconds)
        changed += changed_now
        print(f"ansible: re-run #{rep + 1}: {seconds:.0f} s, changed={changed_now}")
    out["__rerun_changed"] = changed
    out["__profile"] = profile
    return {k: v for k, v in out.items() if v != []}


# --- plots ------------------------------------------------------------------------------------------------

def plot_throughput(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["label"] for r in rows]
    direct = [r["direct"] for r in rows]
    vip = [r["vip"] for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([i - 0.2 for i in x], direct, width=0.4, label="direct to one broker (the limit)")
    ax.bar([i + 0.2 for i in x], vip, width=0.4, label="through the VIP (nginx)")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, r["vip"], f"{r['vip'] / r['direct']:.2f}x", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("messages / s delivered")
    ax.set_title("Throughput: VIP vs direct broker (same run)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(results)
    ax.boxplot([results[n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("end-to-end latency, ms (QoS 1)")
    ax.set_title("Latency by path (whiskers 1.5 IQR, outliers hidden)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
