"""upgrade.yml on the default layout (one bridge master, no standby): a restart-only run restarts every daemon of
every node once, clears the restart marks that an earlier site.yml run left due, and leaves the cluster bridging.

The failover scenario runs the upgrade under a QoS 1 stream with a pair of bridge masters; this one covers the layout
most clusters have, where the bridge master has no peer to hand over to."""

import uuid

from cluster import project_playbook, run_playbook

MARKS = {"mosquitto": "/run/mosquitto-ha-restart-due-mosquitto", "nginx": "/run/mosquitto-ha-restart-due-nginx"}


def _units(cluster):
    units = [(name, "mosquitto") for name in (*cluster.brokers, *cluster.bridge)]
    return units + [(name, unit) for name in cluster.loadbalancers for unit in ("nginx", "keepalived")]


def _invocations(cluster):
    return {(name, unit): cluster.host(name).check_output(f"systemctl show -p InvocationID --value {unit}")
            for name, unit in _units(cluster)}


def test_restart_only_run_with_one_bridge_master(cluster):
    assert len(cluster.bridge) == 1, "this test is for the layout with one bridge master"
    marked = {sorted(cluster.brokers)[0]: MARKS["mosquitto"], next(iter(cluster.bridge)): MARKS["mosquitto"],
              sorted(cluster.loadbalancers)[0]: MARKS["nginx"]}
    for name, mark in marked.items():
        cluster.host(name).check_output(f"touch {mark}")
    before = _invocations(cluster)

    rc, output, recap = run_playbook(project_playbook("upgrade.yml"), "-e", "upgrade_restart_only=true")
    assert rc == 0, output[-5000:]

    after = _invocations(cluster)
    same = [f"{unit} on {name}" for (name, unit), invocation in after.items()
            if not invocation or invocation == before[(name, unit)]]
    assert not same, f"not restarted by the upgrade: {same}"
    left = [f"{mark} on {name}" for name, mark in marked.items() if cluster.host(name).file(mark).exists]
    assert not left, f"restart marks left after the daemons restarted: {left}"

    holders = cluster.vip_holders()
    assert len(holders) == 1, f"load balancers holding the VIP after the upgrade: {holders}"
    assert cluster.bridged(f"e2e/upgrade/{uuid.uuid4().hex[:8]}")
