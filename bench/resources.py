"""Memory and CPU of the lab's containers and of one systemd service in each, read on the host.

The lab's containers run systemd with the host's cgroup namespace (`--cgroupns host`), so their cgroups, and
the cgroups systemd makes inside them for each service, are visible on the host under
/sys/fs/cgroup/.../docker/<id>/ (cgroup v1: memory/, cpuacct/, systemd/; cgroup v2: one tree). A service's
processes are listed in its cgroup's cgroup.procs (host PIDs), and their RSS and CPU time come from /proc.
Nothing here runs inside the containers, so sampling does not load them.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import time

CGROUP = pathlib.Path("/sys/fs/cgroup")
TICK = os.sysconf("SC_CLK_TCK")


def _read(path, default=None):
    try:
        return pathlib.Path(path).read_text()
    except OSError:
        return default


class ContainerCgroup:
    """Where a running container's cgroups are, for cgroup v1 (hybrid) and v2 hosts."""

    def __init__(self, name):
        self.name = name
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True,
                             check=True, timeout=30).stdout.strip()
        self.paths = {}  # controller -> the container's cgroup path (relative), from its init's /proc/<pid>/cgroup
        for line in (_read(f"/proc/{pid}/cgroup") or "").splitlines():
            _unused, controllers, path = line.split(":", 2)
            # systemd moves itself into <container>/init.scope; the container's cgroup is the parent.
            if path.endswith("/init.scope"):
                path = path[: -len("/init.scope")]
            for controller in controllers.split(",") if controllers else ["unified"]:
                self.paths[controller] = path.lstrip("/")
        self.v2 = (CGROUP / "cgroup.controllers").exists()

    def _dir(self, controller, sub=""):
        if self.v2:
            base = CGROUP / self.paths.get("unified", "")
        elif controller == "unified":
            base = CGROUP / "unified" / self.paths.get("unified", "")
        else:
            mount = {"memory": "memory", "cpuacct": "cpuacct", "systemd": "systemd"}[controller]
            key = "name=systemd" if controller == "systemd" else controller
            base = CGROUP / mount / self.paths.get(key, "")
        return base / sub if sub else base

    def memory_bytes(self):
        """The container's memory use: cgroup memory without page cache (v1 rss+mapped_file... as docker stats
        does: usage minus inactive_file), and the raw usage."""
        if self.v2:
            usage = int(_read(self._dir("unified", "memory.current"), "0"))
            stat = _kv(_read(self._dir("unified", "memory.stat"), ""))
            return usage - stat.get("inactive_file", 0), usage
        usage = int(_read(self._dir("memory", "memory.usage_in_bytes"), "0"))
        stat = _kv(_read(self._dir("memory", "memory.stat"), ""))
        return usage - stat.get("total_inactive_file", 0), usage

    def cpu_seconds(self):
        if self.v2:
            stat = _kv(_read(self._dir("unified", "cpu.stat"), ""))
            return stat.get("usage_usec", 0) / 1e6
        return int(_read(self._dir("cpuacct", "cpuacct.usage"), "0")) / 1e9

    def service_pids(self, unit):
        for controller in ("unified", "systemd"):
            procs = _read(self._dir(controller, f"system.slice/{unit}/cgroup.procs"))
            if procs:
                return [int(p) for p in procs.split()]
        return []

    def service(self, unit):
        """(RSS bytes, CPU seconds, process count) of the processes of a systemd unit in the container."""
        rss = cpu = 0
        pids = self.service_pids(unit)
        for pid in pids:
            stat = _read(f"/proc/{pid}/stat")
            status = _read(f"/proc/{pid}/status")
            if not stat or not status:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
        return rss, cpu, len(pids)


def _kv(text):
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


class Sampler:
    """Samples each container's memory and CPU and its main service's RSS and CPU."""

    def __init__(self, containers):
        """containers: {name: unit}, e.g. {"mqttlab-lb1": "nginx.service", "mqttlab-broker1": "mosquitto.service"}"""
        self.units = dict(containers)
        self.groups = {}
        for name in containers:
            try:
                self.groups[name] = ContainerCgroup(name)
            except (subprocess.SubprocessError, OSError, ValueError):
                self.groups[name] = None  # not running; reported as missing

    def sample(self):
        out = {"t": time.monotonic()}
        for name, group in self.groups.items():
            if group is None:
                continue
            try:
                mem, usage = group.memory_bytes()
                rss, cpu, procs = group.service(self.units[name])
                out[name] = {"mem": mem, "mem_raw": usage, "cpu": group.cpu_seconds(), "svc_rss": rss,
                             "svc_cpu": cpu, "svc_procs": procs}
            except (OSError, ValueError, IndexError):
                continue
        return out


def cpu_cores(first, last, name, key="cpu"):
    """Average CPU (cores) of a container (key cpu) or its service (svc_cpu) between two samples."""
    if name not in first or name not in last or last["t"] <= first["t"]:
        return None
    return (last[name][key] - first[name][key]) / (last["t"] - first["t"])


def host_sockstat():
    """The host-wide TCP socket memory (pages, all namespaces share it) and the conntrack table fill."""
    out = {}
    for line in (_read("/proc/net/sockstat") or "").splitlines():
        if line.startswith("TCP:"):
            parts = line.split()[1:]
            out.update({f"tcp_{k}": int(v) for k, v in zip(parts[::2], parts[1::2])})
    for key in ("nf_conntrack_count", "nf_conntrack_max"):
        value = _read(f"/proc/sys/net/netfilter/{key}")
        if value:
            out[key] = int(value)
    return out
