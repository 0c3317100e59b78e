"""Concurrent TLS MQTT connections held through the VIP: a bounded ramp (10k, 25k, 50k by default).

Connections accumulate from step to step: each step opens connections until the total held reaches its target,
its time limit passes or its failure budget is spent, then holds them for a few seconds while memory and CPU
are sampled. A connection counts once its CONNACK arrived; it then stays idle (keepalive below the brokers'
max_keepalive, a PINGREQ only if the ramp outlives 80 % of it).

The load comes from a few worker processes (bench/connload.py: asyncio, TLS via MemoryBIO) on this machine. Each
process may hold at most RLIMIT_NOFILE sockets, so there are enough of them for the largest step. One source
address reaches VIP:8883 from at most ip_local_port_range ports (about 28k), so the ramp adds a few /32
addresses to the lab network's bridge interface for the run and removes them afterwards; they also let nginx's
`hash $remote_addr` spread the connections over the brokers as it would spread real clients. Only the lab's
containers are addressed.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import multiprocessing
import pathlib
import re
import subprocess
import time

import connload
import lab
from resources import Sampler, cpu_cores, host_sockstat

NETWORK = lab.NETWORK


def run(cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)


def dexec(container, command, timeout=60):
    proc = run(["docker", "exec", container, "bash", "-c", command], timeout=timeout)
    return proc.stdout.strip()


# --- source addresses ------------------------------------------------------------------------------------


class SourceAddresses:
    """Extra /32 addresses on the lab network's bridge interface, for the run only (a context manager)."""

    def __init__(self, count, first_host=201):
        network = run(["docker", "network", "inspect", "-f", "{{.Id}} {{(index .IPAM.Config 0).Subnet}}",
                       NETWORK])
        if network.returncode != 0:
            raise RuntimeError(f"docker network {NETWORK} not found: is the lab up (make lab)?")
        net_id, subnet = network.stdout.split()
        self.interface = f"br-{net_id[:12]}"
        net = ipaddress.ip_network(subnet)
        if first_host + count >= net.num_addresses - 1:
            raise ValueError(f"{count} source addresses do not fit in {subnet} from .{first_host}")
        self.addresses = [str(net.network_address + first_host + i) for i in range(count)]
        self.added = []

    def __enter__(self):
        used = run(["docker", "network", "inspect", "-f",
                    "{{range .Containers}}{{.IPv4Address}} {{end}}", NETWORK]).stdout
        for address in self.addresses:
            if f"{address}/" in used:
                raise RuntimeError(f"{address} belongs to a container of {NETWORK}")
            proc = run(["ip", "addr", "add", f"{address}/32", "dev", self.interface])
            if proc.returncode != 0 and "File exists" not in proc.stderr:
                self.__exit__(None, None, None)
                raise RuntimeError(f"ip addr add {address}/32 dev {self.interface}: {proc.stderr.strip()}")
            self.added.append(address)
        return self

    def __exit__(self, *_exc):
        for address in self.added:
            run(["ip", "addr", "del", f"{address}/32", "dev", self.interface])
        self.added = []


# --- evidence from the nodes -----------------------------------------------------------------------------

FD_SCRIPT = r"""
for p in $(pgrep -x {proc}); do
  n=$(ls /proc/$p/fd 2>/dev/null | wc -l)
  l=$(awk '/Max open files/ {{print $4}}' /proc/$p/limits)
  echo "$p $n $l"
done
"""


def fds(container, proc):
    """[(pid, open fds, soft limit)] of the processes named proc in a container."""
    out = []
    for line in dexec(container, FD_SCRIPT.format(proc=proc)).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return out


def established(container, where):
    """Established TCP connections in a container's namespace matching an ss filter, e.g. 'sport = :8883'."""
    out = dexec(container, f"ss -Htn state established '( {where} )' | wc -l")
    return int(out) if out.isdigit() else None


def log_lines(container, path):
    out = dexec(container, f"wc -l < {path} 2>/dev/null || echo 0")
    return int(out) if out.isdigit() else 0


def new_log(container, path, since_line, limit=2000):
    return dexec(container, f"tail -n +{since_line + 1} {path} 2>/dev/null | head -n {limit}")


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return float(handle.read().split()[0])


def summarise(lines, strip=r"^\S+ \S+ \[\w+\] \d+#\d+: (\*\d+ )?"):
    """Count log messages with timestamps, pids and addresses taken out."""
    counter = collections.Counter()
    for line in lines.splitlines():
        msg = re.sub(strip, "", line)
        msg = re.sub(r"\d+\.\d+\.\d+\.\d+(:\d+)?", "<addr>", msg)
        msg = re.sub(r"\b(ramp|probe|e2e|fo)-[\w-]+", "<client>", msg)
        msg = re.sub(r"\bclient: .*", "", msg)
        counter[msg.strip()[:160]] += 1
    return counter.most_common(5)


# --- the ramp --------------------------------------------------------------------------------------------


class Ramp:
    def __init__(self, lab, steps, workers=None, sources=32, keepalive=240, step_timeout=300.0, hold=15.0,
                 attempt_timeout=10.0, concurrency=32, log=print):
        self.lab, self.steps = lab, sorted(steps)
        self.keepalive, self.step_timeout, self.hold = keepalive, step_timeout, hold
        self.attempt_timeout, self.concurrency = attempt_timeout, concurrency
        self.log = log
        soft_limit = connload.raise_nofile(1 << 20)
        self.per_worker_cap = max(1000, soft_limit - 200)
        self.workers = workers or max(2, math.ceil(max(self.steps) / self.per_worker_cap))
        self.sources = sources
        self._loadgen_cpu = 0.0

    def run(self):
        lab = self.lab
        holder = lab.vip_holder()
        containers = {lb: "nginx.service" for lb in lab.loadbalancers}
        containers.update({b: "mosquitto.service" for b in lab.brokers})
        sampler = Sampler(containers)
        result = {"planned": self.steps, "steps": [], "timeline": [], "holder": holder, "workers": self.workers,
                  "sources": [],
                  "keepalive": self.keepalive, "step_timeout": self.step_timeout, "hold": self.hold,
                  "attempt_timeout": self.attempt_timeout, "concurrency": self.concurrency,
                  "limits": self._limits(holder)}
        base = sampler.sample()
        result["baseline"] = {n: {"mem_mb": base[n]["mem"] / 2**20, "svc_rss_mb": base[n]["svc_rss"] / 2**20}
                              for n in containers if n in base}
        self.log(f"ramp: steps {self.steps}, {self.workers} load processes, VIP held by {holder}; "
                 f"limits {result['limits']}")
        with SourceAddresses(self.sources) as sources:
            result["sources"] = sources.addresses
            result["interface"] = sources.interface
            ctx = multiprocessing.get_context("spawn")
            pipes, procs = [], []
            lifetime = len(self.steps) * (self.step_timeout + self.hold + 60) + 300
            try:
                for i in range(self.workers):
                    mine = sources.addresses[i::self.workers] or sources.addresses
                    parent, child = ctx.Pipe()
                    config = {"host": lab.vip, "port": lab.port, "cafile": lab.cafile,
                              "server_hostname": lab.vip, "sources": mine, "username": lab.username,
                              "password": lab.password, "keepalive": self.keepalive,
                              "attempt_timeout": self.attempt_timeout, "concurrency": self.concurrency,
                              "nofile": 1 << 20, "lifetime": lifetime}
                    proc = ctx.Process(target=connload.worker_main, args=(child, i, config), daemon=True)
                    proc.start()
                    pipes.append(parent)
                    procs.append(proc)
                ready = [self._recv(p, 60) for p in pipes]
                result["worker_nofile"] = [r.get("nofile") for r in ready]
                t0 = time.monotonic()
                for target in self.steps:
                    step = self._step(target, pipes, sampler, holder, t0, result["timeline"])
                    result["steps"].append(step)
                    self.log(f"ramp step {target}: held {step['held']} in {step['seconds']:.0f} s "
                             f"({step['stop']}); limit: {step['limit']}")
                    if step["held"] < target:
                        self.log("ramp: stopped, the step did not reach its target")
                        break
            finally:
                closed = 0
                for p in pipes:
                    try:
                        p.send(("close",))
                    except OSError:
                        pass
                for p in pipes:
                    try:
                        closed += self._recv(p, 90, until="closed").get("closed", 0)
                    except (EOFError, OSError, TimeoutError):
                        pass
                for proc in procs:
                    proc.join(30)
                    if proc.is_alive():
                        proc.terminate()
                        proc.join(10)
                result["closed"] = closed
                # Give nginx and the brokers a moment to see the disconnects, then confirm they are gone.
                time.sleep(3)
                result["left_on_lb"] = established(holder, f"sport = :{lab.port}")
        return result

    def _limits(self, holder):
        out = {}
        master = dexec(holder, "cat /run/nginx.pid")
        workers = [f for f in fds(holder, "nginx") if str(f[0]) != master]
        if workers:
            out["nginx fd limit per worker"] = sorted({f[2] for f in workers})
            out["nginx workers"] = len(workers)
        for b in self.lab.brokers:
            m = fds(b, "mosquitto")
            if m:
                out[f"{b} mosquitto fd limit"] = m[0][2]
        out["lb ip_local_port_range"] = dexec(holder, "cat /proc/sys/net/ipv4/ip_local_port_range").replace("\t", "-")
        host_range = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        out["host ip_local_port_range"] = "-".join(host_range)
        out.update({k: v for k, v in host_sockstat().items() if k == "nf_conntrack_max"})
        return out

    @staticmethod
    def _recv(pipe, timeout, until=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pipe.poll(min(1.0, max(0.0, deadline - time.monotonic()))):
                msg = pipe.recv()
                if until is None or msg.get("op") == until:
                    return msg
        raise TimeoutError(f"no answer from a load process within {timeout} s")

    def _step(self, target, pipes, sampler, holder, t0, timeline):
        lab = self.lab
        share = [target // len(pipes) + (1 if i < target % len(pipes) else 0) for i in range(len(pipes))]
        nginx_log = "/var/log/nginx/error.log"
        log_start = {lb: log_lines(lb, nginx_log) for lb in lab.loadbalancers}
        since = {n: dexec(n, "date '+%Y-%m-%d %H:%M:%S'") for n in list(lab.brokers) + list(lab.loadbalancers)}
        before = host_sockstat()
        load_before = loadavg()
        first = sampler.sample()
        started = time.monotonic()
        # fail budget per process: 5 % of its share of the step's target, at least 100
        budget = max(100, int(0.05 * target / len(pipes)))
        for pipe, n in zip(pipes, share):
            pipe.send(("ramp", n, self.step_timeout, budget))
        progress = [0] * len(pipes)
        finals = [None] * len(pipes)
        reached_at = None
        next_sample = 0.0
        hard_deadline = started + self.step_timeout + 120
        while any(f is None for f in finals) and time.monotonic() < hard_deadline:
            for i, pipe in enumerate(pipes):
                while finals[i] is None and pipe.poll():
                    msg = pipe.recv()
                    if msg["op"] == "progress":
                        progress[i] = msg["held"]
                    elif msg["op"] == "ramped":
                        finals[i] = msg
                        progress[i] = msg["held"]
            now = time.monotonic()
            if reached_at is None and sum(progress) >= target:
                reached_at = now - started
            if now >= next_sample:
                self._sample(sampler, timeline, t0, sum(progress), target)
                next_sample = now + 2.0
            time.sleep(0.1)
        if any(f is None for f in finals):
            raise TimeoutError(f"a load process did not finish the {target} step")
        ramp_end = sampler.sample()
        ramp_seconds = max(f["seconds"] for f in finals)
        held = sum(f["held"] for f in finals)
        if held >= target:
            reached_at = max(f["reached_s"] or 0 for f in finals)
        # Hold: connections stay idle; sample the steady state and count drops.
        hold_until = time.monotonic() + self.hold
        while time.monotonic() < hold_until:
            self._sample(sampler, timeline, t0, held, target)
            time.sleep(min(2.0, max(0.0, hold_until - time.monotonic())))
        last = sampler.sample()
        statuses = []
        for pipe in pipes:
            pipe.send(("status",))
            statuses.append(self._recv(pipe, 30, until="status"))
        after = host_sockstat()
        load_after = loadavg()
        held_after = sum(s["held"] for s in statuses)
        loadgen_cpu = (sum(f["cpu_s"] for f in finals) - self._loadgen_cpu) / max(ramp_seconds, 1e-6)
        self._loadgen_cpu = sum(s["cpu_s"] for s in statuses)

        errors = collections.Counter()
        examples = {}
        for f in finals:
            errors.update(f["errors"])
            for k, v in f["examples"].items():
                examples.setdefault(k, v)
        per_source = collections.Counter()
        for s in statuses:
            per_source.update(s["per_source"])
        step = {
            "target": target, "held": held, "held_after_hold": held_after, "reached_s": reached_at,
            "seconds": ramp_seconds, "stop": ",".join(sorted({f["stop"] for f in finals})),
            "attempts": sum(f["attempts"] for f in finals), "failures": sum(f["failures"] for f in finals),
            "errors": dict(errors), "examples": examples,
            "dropped": sum(s["dropped"] for s in statuses),
            "drop_kinds": dict(sum((collections.Counter(s["drop_kinds"]) for s in statuses), collections.Counter())),
            "loadgen_rss_mb": sum(s["rss_kb"] for s in statuses) / 1024,
            "loadgen_cpu_ramp": loadgen_cpu,
            "loadgen_nofile": [s["nofile"] for s in statuses],
            "per_source": dict(per_source),
            "nodes": {}, "evidence": {}, "host": {"before": before, "after": after},
            "loadavg": {"before": load_before, "after": load_after},
        }
        for name in sampler.units:
            if name not in last:
                continue
            step["nodes"][name] = {
                "mem_mb": last[name]["mem"] / 2**20,
                "svc_rss_mb": last[name]["svc_rss"] / 2**20,
                "cpu_ramp": cpu_cores(first, ramp_end, name),
                "svc_cpu_ramp": cpu_cores(first, ramp_end, name, "svc_cpu"),
                "cpu_hold": cpu_cores(ramp_end, last, name),
                "svc_cpu_hold": cpu_cores(ramp_end, last, name, "svc_cpu"),
            }
        # Where the connections are: clients on the VIP holder, its upstream connections, per broker.
        step["connections"] = {f"{holder} clients": established(holder, f"sport = :{lab.port}"),
                               f"{holder} upstream": established(holder, f"dport = :{lab.broker_port}")}
        for b in lab.brokers:
            step["connections"][b] = established(b, f"sport = :{lab.broker_port}")
        # Evidence for the limit.
        ev = step["evidence"]
        for lb in lab.loadbalancers:
            counted = summarise(new_log(lb, nginx_log, log_start[lb]))
            if counted:
                ev[f"{lb} nginx error.log"] = counted
        for b in lab.brokers:
            text = dexec(b, f"journalctl -u mosquitto --since '{since[b]}' --no-pager -o cat | "
                            "grep -v -E 'New connection from|New client connected|Client \\S+ disconnected|Saving in-memory database|"
                            "Client \\S+ closed its connection|Received (PINGREQ|CONNECT|DISCONNECT)|Sending' "
                            "| head -n 2000")
            counted = summarise(text, strip=r"^\d+: ")
            if counted:
                ev[f"{b} mosquitto journal"] = counted
        for node in list(lab.brokers) + list(lab.loadbalancers):
            text = dexec(node, f"journalctl -u mosquitto-ha-watchdog --since '{since[node]}' --no-pager -o cat "
                               "| grep -E 'restarting:' | head -n 50")
            counted = summarise(text, strip=r"^\d+: ")
            if counted:
                ev[f"{node} watchdog"] = counted
        ev["nginx fds (pid, open, limit)"] = fds(holder, "nginx")
        for b in lab.brokers:
            ev[f"{b} mosquitto fds (pid, open, limit)"] = fds(b, "mosquitto")
        step["limit"] = diagnose(step, holder)
        return step

    def _sample(self, sampler, timeline, t0, held, target):
        s = sampler.sample()
        row = {"t": s["t"] - t0, "held": held, "target": target}
        for name in sampler.units:
            if name in s:
                row[name] = {"mem_mb": s[name]["mem"] / 2**20, "svc_rss_mb": s[name]["svc_rss"] / 2**20,
                             "cpu": s[name]["cpu"], "svc_cpu": s[name]["svc_cpu"]}
        timeline.append(row)


def diagnose(step, holder):
    """Which limit stopped (or slowed) the step, with the evidence that says so; 'none' when it was reached
    without failures."""
    errors = step["errors"]
    ev = step["evidence"]
    total_fail = step["failures"]
    reasons = []

    def has(prefix_or_kind):
        return sum(v for k, v in errors.items() if prefix_or_kind in k)

    def log_has(pattern):
        hits = []
        for key, counted in ev.items():
            if isinstance(counted, list) and counted and isinstance(counted[0], tuple) and isinstance(counted[0][0], str):
                hits += [(key, msg, n) for msg, n in counted if re.search(pattern, msg, re.I)]
        return hits

    for key, msg, n in log_has(r"restarting:"):
        reasons.append(f"the watchdog restarted a service under the load ({key}: {n}x '{msg}'), dropping its "
                       "connections")
    if has("EMFILE") or has("ENFILE"):
        reasons.append(f"file descriptors of the load generator ({has('EMFILE') + has('ENFILE')} EMFILE/ENFILE; "
                       f"RLIMIT_NOFILE {step['loadgen_nofile']})")
    if has("bind/") or has("EADDRNOTAVAIL"):
        reasons.append(f"ephemeral ports of the load generator's source addresses ({has('bind/') + has('EADDRNOTAVAIL')})")
    for key, msg, n in log_has(r"Too many open files|worker_connections are not enough"):
        reasons.append(f"nginx file descriptors: {n}x '{msg}' ({key}); nginx fds (pid, open, limit): "
                       f"{ev.get('nginx fds (pid, open, limit)')}")
    for key, msg, n in log_has(r"Cannot assign requested address|\(99:"):
        reasons.append(f"ephemeral ports of the load balancer towards a broker: {n}x '{msg}' ({key})")
    for key, msg, n in log_has(r"upstream timed out|Connection refused|no live upstreams"):
        reasons.append(f"brokers not accepting: {n}x '{msg}' ({key})")
    # Brokers: only what limits them; TLS errors of connections nginx or the client gave up on are consequences.
    for key, msg, n in log_has(r"too many open files|unable to accept|out of memory|no space"):
        if "mosquitto" in key:
            reasons.append(f"broker: {n}x '{msg}' ({key})")
    conn = step["host"]["after"]
    if conn.get("nf_conntrack_max") and conn.get("nf_conntrack_count", 0) > 0.9 * conn["nf_conntrack_max"]:
        reasons.append(f"the host's conntrack table ({conn['nf_conntrack_count']}/{conn['nf_conntrack_max']})")
    for name, fd_list in ev.items():
        if "fds" in name and isinstance(fd_list, list):
            for pid, n, limit in fd_list:
                if limit and n >= 0.98 * limit:
                    reasons.append(f"{name.split(' ')[0]}: process {pid} has {n} of {limit} file descriptors open")
    timeouts = sum(v for k, v in errors.items() if k.endswith("/timeout"))
    if timeouts and timeouts >= 0.5 * total_fail:
        phases = {k: v for k, v in errors.items() if k.endswith("/timeout")}
        reasons.append(f"timeouts ({phases}): the handshakes did not keep up (CPU) or packets were dropped")
    if not reasons and total_fail:
        reasons.append(f"failures without a known cause: {errors}")
    if step["held"] < step["target"] and step["stop"] == "time limit" and not total_fail:
        reasons.append("the step's time limit (connections were still being opened)")
    if step["dropped"]:
        reasons.append(f"{step['dropped']} held connections dropped ({step['drop_kinds']})")
    # de-duplicate, keep order
    seen, out = set(), []
    for r in reasons:
        if r not in seen:
            seen.add(r)
            out.append(r)
    return "; ".join(out) if out else "none"


# --- report ----------------------------------------------------------------------------------------------


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = result["timeline"]
    steps = result["steps"]
    if not timeline or not steps:
        return False
    names = list(steps[0]["nodes"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    held = [r["held"] for r in timeline]
    for name in names:
        ax1.plot(held, [r.get(name, {}).get("mem_mb", float("nan")) for r in timeline], marker=".", label=name)
    ax1.set_xlabel("connections held through the VIP")
    ax1.set_ylabel("container memory, MiB (no page cache)")
    ax1.set_title("Memory vs connections")
    ax1.legend(fontsize=8)
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(steps))]
        ax2.bar(xs, [s["nodes"].get(name, {}).get("cpu_ramp") or 0 for s in steps], width=width, label=name)
    ax2.set_xticks(range(len(steps)), [f"{s['held']}\nof {s['target']}" for s in steps])
    ax2.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax2.set_ylabel("CPU while ramping, cores (machine: 2)")
    ax2.set_title("CPU per step (while opening)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def lab_brokers(result):
    return [k for k in result["steps"][0]["connections"] if " " not in k] if result["steps"] else []


def _f(value, fmt="{:.0f}"):
    return "n/a" if value is None else fmt.format(value)


def section(result, plot_link):
    steps = result["steps"]
    lines = [
        "## Concurrent connections held through the VIP",
        "",
        f"{result['workers']} load processes on this machine (asyncio, TLS 1.2+/1.3 verified against the cluster CA,",
        "a minimal MQTT 3.1.1 CONNECT with the lab user) open connections to the VIP until the step's target is",
        f"held (CONNACK received), then hold them idle (keepalive {result['keepalive']} s) for {result['hold']:.0f} s; "
        "connections accumulate",
        f"from step to step. Each step is bounded ({result['step_timeout']:.0f} s, a failure budget of 5 %, attempts "
        f"time out after {result['attempt_timeout']:.0f} s).",
        f"Source addresses: {len(result['sources'])} /32 addresses added to the lab bridge ({result.get('interface')}) "
        "for the run, so that",
        "no source runs out of ephemeral ports towards VIP:8883 and nginx's `hash $remote_addr` spreads them over",
        f"the brokers. The VIP was held by {result['holder']}. Limits in force: "
        + ", ".join(f"{k} {v}" for k, v in result["limits"].items()) + ".",
        "",
        f"At most {result.get('concurrency', '?')} attempts are in flight per load process, so a broker's queue of "
        "pending handshakes stays short.",
        "",
        "| target | held | time to reach (s) | failures | host load average (before → after) | stopped by |",
        "| ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for s in steps:
        load = s.get("loadavg", {})
        reached = _f(s["reached_s"], "{:.1f}") if s["held"] >= s["target"] else f"not reached (stopped after {s['seconds']:.0f})"
        lines.append(f"| {s['target']} | {s['held']} | {reached} | {s['failures']} | "
                     f"{_f(load.get('before'), '{:.1f}')} → {_f(load.get('after'), '{:.1f}')} | {s['limit']} |")
    for target in result.get("planned", [])[len(steps):]:
        lines.append(f"| {target} | not attempted | | | | the ramp stopped at the step before |")
    lines += ["", "Memory (container, no page cache / service RSS) and CPU (cores; while opening / while holding) at "
              "the end of each step:", ""]
    names = list(steps[0]["nodes"]) if steps else []
    lines += ["| held | " + " | ".join(names) + " | load generator (all processes) |",
              "| ---: | " + " | ".join("---" for _unused in names) + " | --- |"]
    for s in steps:
        cells = []
        for n in names:
            d = s["nodes"].get(n)
            cells.append("n/a" if not d else
                         f"{d['mem_mb']:.0f} / {d['svc_rss_mb']:.0f} MiB, CPU {_f(d['cpu_ramp'], '{:.2f}')} / "
                         f"{_f(d['cpu_hold'], '{:.2f}')}")
        lines.append(f"| {s['held']} | " + " | ".join(cells) + f" | {s['loadgen_rss_mb']:.0f} MiB RSS, CPU "
                     f"{_f(s.get('loadgen_cpu_ramp'), '{:.2f}')} |")
    base = result.get("baseline", {})
    if steps and base:
        last = steps[-1]
        per = []
        for n in names:
            d = last["nodes"].get(n)
            share = last["connections"].get(n) if n in lab_brokers(result) else last["held"]
            if d and n in base and share:
                growth = max(0.0, 1000 * (d["mem_mb"] - base[n]["mem_mb"]) / share)
                per.append(f"{n} {growth:.1f} MiB ({share} connections)")
        if per:
            lines += ["", f"Memory growth per 1000 connections from before the ramp to {last['held']} held (brokers: "
                      "per connection on that broker; load balancers: per connection through the VIP; the VIP "
                      "holder carries them all): " + ", ".join(per) + ". mosquitto and nginx keep memory they "
                      "once allocated, so on a lab that held connections before this run the growth reads low.",
                      "Memory is the container's cgroup use without inactive page cache; service RSS sums the "
                      "unit's processes (nginx: master and workers, shared pages counted in each)."]
    lines += ["", "Where the connections landed (established TCP connections on port 8883 at the end of each step; a",
              "broker's count includes the bridge master's connection):", ""]
    for s in steps:
        conns = ", ".join(f"{k} {v}" for k, v in s["connections"].items())
        lines.append(f"- {s['held']} held: {conns}; dropped while holding: {s['dropped']}.")
    lines.append("")
    for s in steps:
        if s["errors"]:
            lines.append(f"Failures at the {s['target']} step by phase: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items(), key=lambda kv: -kv[1])) + ".")
            for key, counted in s["evidence"].items():
                if isinstance(counted, list) and counted and isinstance(counted[0], tuple) and isinstance(counted[0][0], str):
                    lines.append(f"  {key}: " + "; ".join(f"{n}x `{m}`" for m, n in counted[:3]))
            lines.append("")
    lines += [f"All {result.get('closed', 0)} connections were closed at the end (left on the VIP holder afterwards: "
              f"{result.get('left_on_lb')}).", ""]
    if plot_link:
        lines += [f"![connections]({plot_link})", ""]
    return lines
