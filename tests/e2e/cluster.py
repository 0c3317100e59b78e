"""What the molecule verifiers need to know about the cluster under test, read from molecule's inventory."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import time

import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner


@dataclasses.dataclass
class Cluster:
    inventory: str
    vip: str
    port: int
    broker_port: int
    cafile: str
    brokers: dict  # name -> address
    bridge: dict
    loadbalancers: dict
    username: str | None = None  # MQTT credentials of the scenario's test user (e2e_mqtt_username / _password)
    password: str | None = None

    def host(self, name):
        return testinfra.get_host(f"ansible://{name}?ansible_inventory={self.inventory}")

    def client(self, host, port=None, **kwargs):
        """A mqttcheck.Client for host:port (default: the broker port) with the cluster CA and test credentials."""
        from mqttcheck import Client  # noqa: PLC0415 (tests/e2e is on sys.path in the verifiers)

        kwargs.setdefault("username", self.username)
        kwargs.setdefault("password", self.password)
        return Client(host, self.broker_port if port is None else port, self.cafile, **kwargs)

    def vip_holders(self):
        """The load balancers that have the VIP on an interface now."""
        return [name for name in self.loadbalancers
                if f" {self.vip}/" in self.host(name).check_output("ip -4 -o addr show")]

    def bridged(self, topic, timeout=60):
        """True once a message published through the VIP reaches a subscriber on every broker (the bridges carry it);
        raises TimeoutError naming the brokers it did not reach."""
        from mqttcheck import wait_for_bridging  # noqa: PLC0415 (tests/e2e is on sys.path in the verifiers)

        subscribers = [self.client(address).connect().subscribe(topic + "/#") for address in self.brokers.values()]
        publisher = self.client(self.vip, self.port).connect()
        try:
            return wait_for_bridging(publisher, subscribers, topic + "/probe", timeout=timeout)
        finally:
            publisher.close()
            for subscriber in subscribers:
                subscriber.close()

    @property
    def broker_endpoints(self):
        return [(address, self.broker_port) for address in self.brokers.values()]


def _address(inventory, name):
    host = testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")
    return host.check_output("ip -4 -o addr show dev eth0 scope global primary | awk '{print $4}' | cut -d/ -f1 | head -n1")


def load_cluster():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    runner = AnsibleRunner(inventory)
    groups = {g: runner.get_hosts(g) for g in ("brokers", "bridge", "loadbalancers")}
    first = groups["brokers"][0]
    hostvars = runner.get_variables(first)
    local_dir = hostvars.get("cluster_local_dir") or os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "mosquitto-ha")
    return Cluster(
        inventory=inventory,
        vip=hostvars["cluster_vip"],
        port=int(hostvars.get("cluster_port", 8883)),
        broker_port=int(hostvars.get("cluster_broker_port", 8883)),
        cafile=os.path.join(local_dir, "pki", "ca.crt"),
        brokers={n: _address(inventory, n) for n in groups["brokers"]},
        bridge={n: _address(inventory, n) for n in groups["bridge"]},
        loadbalancers={n: _address(inventory, n) for n in groups["loadbalancers"]},
        username=hostvars.get("e2e_mqtt_username"),
        password=hostvars.get("e2e_mqtt_password"),
    )


def project_playbook(name):
    """The path of one of the checkout's playbooks (playbooks/<name>), as the verifiers run it."""
    return os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "playbooks", name)


def run_playbook_process(playbook, *extra, check=False, env=None, timeout=1800):
    """Run a playbook against molecule's inventory with the checkout's collection and no colours (env: more
    environment variables); return (the finished process, its output without colour codes, recap) where recap maps
    host -> {ok, changed, unreachable, failed, ...}."""
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(project, ".collections"),
                   ANSIBLE_ROLES_PATH=os.path.join(project, "roles"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    environ.update(env or {})
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook, *extra]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, timeout=timeout, check=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    recap = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+:\s+(ok=.*)$", line.strip())
        if match:
            recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return proc, output, recap


def run_status(*extra, check=False, env=None):
    """Run the checkout's status.yml with JSON results, which keep each line of its table whole (YAML results wrap
    long lines); return (returncode, output, recap) as run_playbook does. run_status.stdout keeps the last run's
    standard output alone (status_format=json prints the document there)."""
    environ = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json", **(env or {})}
    started = time.monotonic()
    proc, output, recap = run_playbook_process(project_playbook("status.yml"), *extra, check=check, env=environ,
                                               timeout=600)
    print(f"status run ({' '.join(extra) or 'table'}{' --check' if check else ''}): rc {proc.returncode} "
          f"in {time.monotonic() - started:.1f} s")
    run_status.stdout = proc.stdout
    return proc.returncode, output, recap


def run_playbook(playbook, *extra, check=False):
    """Run a playbook against molecule's inventory; return (returncode, output, recap) where recap maps
    host -> {ok, changed, unreachable, failed, ...}."""
    proc, output, recap = run_playbook_process(playbook, *extra, check=check)
    return proc.returncode, output, recap
