"""add_broker.yml of 2 brokers on the lab, timed: two spare broker containers are started for it, added, then
removed again with remove_broker.yml (also timed) and deleted, so the lab ends as it began.

The spares are started like scripts/lab.sh starts its nodes (same image, network, flags and label); their
inventory is a temporary copy of inventories/lab whose .mosquitto-ha links to the lab's, so the cluster CA,
the VRRP, bridge and lab user passwords stay the same.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import subprocess
import tempfile
import time
import types

import yaml

import lab

LAB = lab.INVENTORY
NETWORK = lab.NETWORK
SPARES = lab.SPARE_BROKERS
FIRST_BROKER = next(iter(lab.BROKERS))


def _run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout, **kw)


def _image():
    """The image the lab's brokers run."""
    out = _run(["docker", "inspect", "-f", "{{.Config.Image}}", FIRST_BROKER]).stdout.strip()
    if not out:
        raise RuntimeError(f"{FIRST_BROKER} is not running: is the lab up (make lab)?")
    return out


def start_spare(name, address, image):
    """Start one systemd container like scripts/lab.sh's start_node (keep the two in step)."""
    _run(["docker", "rm", "-f", name])
    proc = _run(["docker", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK, "--ip", address,
                 "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                 "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
                 "--security-opt", "seccomp=unconfined",
                 "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
                 "--stop-signal", "SIGRTMIN+3", "--label", "mosquitto-ha-lab=1", "--pull", "never",
                 image, "/lib/systemd/systemd"])
    if proc.returncode != 0:
        raise RuntimeError(f"docker run {name}: {proc.stderr.strip()}")
    for _unused in range(120):
        state = _run(["docker", "exec", name, "systemctl", "is-system-running"]).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"systemd in {name} did not come up within 60 s")


def inventory(directory, groups):
    """A copy of the lab inventory with the broker groups replaced; .mosquitto-ha and group_vars link to the lab's."""
    hosts = yaml.safe_load((LAB / "hosts.yml").read_text())
    children = hosts["all"]["children"]
    for group, names in groups.items():
        children[group] = {"hosts": {n: None for n in names}}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    for link in ("group_vars", ".mosquitto-ha"):
        target = directory / link
        if not target.exists():
            target.symlink_to(LAB / link)
    return directory


def measure(log=print, drain_timeout=10):
    """Returns {"add_broker.yml, 2 brokers": s, "remove_broker.yml, 2 brokers (10 s drain)": s, ...}."""
    lab_brokers = yaml.safe_load((LAB / "hosts.yml").read_text())["all"]["children"]["brokers"]["hosts"] or {}
    timings = {}
    with joined(types.SimpleNamespace(brokers=dict.fromkeys(lab_brokers)), len(SPARES), log=log,
                drain_timeout=drain_timeout, timings=timings):
        pass
    return {f"add_broker.yml, {len(SPARES)} brokers": timings["add"],
            f"remove_broker.yml, {len(SPARES)} brokers ({drain_timeout} s drain)": timings["remove"],
            "__add_broker_note": "the spares are started before and deleted after; their container start is not "
                                 "counted."}


@contextlib.contextmanager
def joined(cluster, count, log=print, drain_timeout=10, timings=None):
    """With count > 0, the first `count` spare brokers run in the cluster for the duration: started, added with
    add_broker.yml and put into cluster.brokers; afterwards taken out with remove_broker.yml and deleted, so the lab
    ends as it began. With 0, the cluster as it is. `timings` (a dict) gets the seconds of the two playbooks under
    "add" and "remove"."""
    timings = {} if timings is None else timings
    if count <= 0:
        yield cluster
        return
    spares = list(SPARES.items())[:count]
    if len(spares) < count:
        raise ValueError(f"the lab has {len(SPARES)} spare brokers (scripts/lab.env LAB_SPARE_BROKERS), not {count}")
    names = [name for name, _address in spares]
    lab_brokers = list(cluster.brokers)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-spares-"))
    try:
        started = time.monotonic()
        for name, address in spares:
            start_spare(name, address, _image())
        log(f"spare containers {', '.join(names)} up in {time.monotonic() - started:.0f} s")
        timings["add"], changed = lab.playbook("add_broker.yml", inventory(tmp / "add", {"brokers": lab_brokers + names,
                                                                                         "new_brokers": names}))
        log(f"add_broker.yml for {count} brokers took {timings['add']:.0f} s (changed={changed})")
        before = dict(cluster.brokers)
        cluster.brokers.update(dict(spares))
        try:
            yield cluster
        finally:
            cluster.brokers.clear()
            cluster.brokers.update(before)
            remove = inventory(tmp / "remove", {"brokers": lab_brokers, "retiring_brokers": names})
            timings["remove"], changed = lab.playbook("remove_broker.yml", remove, "-e",
                                                      f"remove_broker_drain_timeout={drain_timeout}")
            log(f"remove_broker.yml for {count} brokers took {timings['remove']:.0f} s (changed={changed})")
    finally:
        for name in names:
            _run(["docker", "rm", "-f", name])
        shutil.rmtree(tmp, ignore_errors=True)
