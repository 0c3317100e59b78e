"""Eight faults, one at a time, each under a QoS 1 stream through the VIP (tests/e2e/faults.py does the work).

After each fault: the faulted process is back where that applies, the VIP sits on exactly one load balancer
whose nginx is healthy, every broker delivers to every other broker again, and the persistent subscriber got
every acknowledged message (lost = 0; duplicates are counted and printed), except for kill -9 of a relaying
mosquitto, where the loss is bounded (RELAY_KILLS below explains why). The recovery figures are printed
and saved to $MOLECULE_EPHEMERAL_DIRECTORY/failover-results.json; they are reported, not asserted.
"""

import os

import pytest
from faults import DESCRIPTIONS, FAULTS, Rig, clock, dexec, dump, inject, journal, main_pid, unit_active
from mqttcheck import wait_until

RESULTS = []

# kill -9 of a relaying mosquitto (the bridge master, or the broker the publisher is on): mosquitto acknowledges a
# message once it has queued and written it towards the next hop, so the messages of the last moment before the
# kill can be lost with the connection's reset (seen: 1 and 4 messages in two runs on a heavily loaded machine,
# 0 in all others). What these faults must show is that the whole outage backlog arrives (persistent bridge
# sessions): without it, 1.5-3 s of the stream (75-150 messages) would be gone. So the loss is bounded by half a
# second of the stream and printed; every other fault must lose nothing.
RELAY_KILLS = {"broker_kill9", "bridge_kill9"}
STREAM_RATE = 50  # messages per second (faults.inject's default stream_interval 0.02)


@pytest.fixture(scope="module")
def rig(cluster):
    rig = Rig(cluster)
    assert rig.settled(120), "the cluster is not healthy before the first fault"
    return rig


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if not RESULTS:
        return
    print("\n\nFailover figures (fault -> process serving again / publish acknowledged through the VIP / "
          "every broker delivering to every other):")
    for r in RESULTS:
        print("  " + r.line())
        for note in r.notes:
            print(f"      {note}")
    path = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "failover-results.json")
    dump(RESULTS, path)
    print(f"  saved to {path}")


def test_one_bridge_master_relays(rig):
    """Of the two bridge masters exactly one runs mosquitto (started by keepalived); the standby has keepalived in
    BACKUP and mosquitto stopped. mosquitto is enabled at boot on neither, so a reboot does not start it; the
    watchdog watches it only on the active node."""
    assert len(rig.cluster.bridge) == 2, rig.cluster.bridge
    active = rig.active_bridge()
    standby = next(n for n in rig.cluster.bridge if n != active)
    assert dexec(active, "cat /run/mosquitto-ha/bridge-state")[1] == "MASTER"
    assert dexec(active, "systemctl is-enabled mosquitto")[1] == "disabled"
    assert dexec(active, "ip -4 -o addr show dev lo")[1].count("127.0.0.77/32") == 1
    assert dexec(standby, "cat /run/mosquitto-ha/bridge-state")[1] == "BACKUP"
    assert unit_active(standby, "keepalived")
    assert not unit_active(standby, "mosquitto")
    assert dexec(standby, "systemctl is-enabled mosquitto")[1] == "disabled"
    assert "127.0.0.77" not in dexec(standby, "ip -4 -o addr show dev lo")[1]
    watchdog = {n: journal(n, "-1h", unit="mosquitto-ha-watchdog") for n in (active, standby)}
    assert "mosquitto.service: not watched (/run/mosquitto-ha/bridge-state: BACKUP)" in watchdog[standby], watchdog
    # Both carry the same connections with the same client ids, so a broker keeps one bridge session.
    confs = [dexec(n, "grep -E '^(connection|remote_clientid) ' /etc/mosquitto/conf.d/bridge.conf", check=True)[1]
             for n in (active, standby)]
    assert confs[0] == confs[1] and "remote_clientid" in confs[0], confs


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_fault_under_load(rig, fault):
    since = {n: clock(n) for n in list(rig.cluster.loadbalancers) + list(rig.cluster.brokers)}
    result = inject(rig, fault)
    RESULTS.append(result)
    print(f"\n{DESCRIPTIONS[fault]}:\n  {result.line()}")

    assert result.acked > 200, f"the stream was too short to mean anything: {result}"
    if fault in RELAY_KILLS:
        bound = STREAM_RATE // 2
        assert result.lost <= bound, f"{result.lost} acknowledged QoS 1 messages lost (at most {bound}): {result.notes}"
        if result.lost:
            print(f"  NOTE: {result.lost} acknowledged messages lost in the kill -9 window of a relay (bound {bound})")
    else:
        assert result.lost == 0, f"{result.lost} acknowledged QoS 1 messages lost: {result.notes}"
    assert result.acked == result.published, f"messages never acknowledged: {result}"
    assert result.sessions_lost == 0, "the persistent subscriber's session did not survive"
    assert result.vip_s is not None, "no publish through the VIP succeeded after the fault"
    assert result.cross_s is not None, "cross-broker delivery did not come back"
    assert "cluster did not settle" not in result.notes
    # lb_container_kill: the node stays down; its recovery is the takeover (the other load balancer holds the VIP).
    assert result.recovery_s is not None, f"{result.target} did not recover"

    target = result.target
    if fault == "broker_sigstop":
        log = journal(target, since[target], unit="mosquitto-ha-watchdog")
        assert "mosquitto.service: restarting: stopped (SIGSTOP) for" in log, log
    if fault == "keepalived_stop":
        log = journal(target, since[target], unit="mosquitto-ha-watchdog")
        assert "keepalived.service: restarting: unit is inactive" in log, log
    if fault in ("keepalived_stop", "lb_container_kill"):
        assert result.vip_holder_after != result.vip_holder_before, "the VIP did not move"
        new = result.vip_holder_after
        transitions = journal(new, since[new], tag="mosquitto-ha-vrrp")
        assert "now MASTER" in transitions, f"no MASTER transition logged on {new}: {transitions!r}"
    if fault == "lb_container_kill":
        assert any("rejoined" in n for n in result.notes), result.notes
    if fault == "bridge_node_kill":
        # The standby relays now, the old active is back as standby and the role stayed put.
        assert any("rejoined as standby" in n for n in result.notes), result.notes
        assert not any("moved" in n for n in result.notes), result.notes
        assert rig.bridge_relays() == [n for n in rig.cluster.bridge if n != target]
        print(f"  standby bridge master took over: cross-broker delivery back {result.cross_s:.2f} s after the node died")
        assert result.cross_s < 15, "cross-broker delivery took too long to come back after the takeover"
    if fault == "broker_reboot":
        for unit in ("mosquitto", "mosquitto-ha-watchdog"):
            assert unit_active(target, unit), f"{unit} is not running on {target} after the reboot"


@pytest.mark.parametrize("group", ["brokers", "loadbalancers"])
def test_systemd_restarts_a_killed_watchdog(rig, group):
    """The watchdog is itself a systemd service with Restart=always: killed, it is back within seconds and
    keeps watching (it then restarts a stopped service again)."""
    name = next(iter(getattr(rig.cluster, group)))
    pid = main_pid(name, "mosquitto-ha-watchdog")
    assert pid > 0
    dexec(name, f"kill -9 {pid}", check=True)
    assert wait_until(lambda: main_pid(name, "mosquitto-ha-watchdog") not in (0, pid), 15, interval=0.2), \
        "systemd did not restart the killed watchdog"
    unit = "mosquitto" if group == "brokers" else "nginx"
    dexec(name, f"systemctl stop {unit}", check=True)
    assert wait_until(lambda: unit_active(name, unit), 15, interval=0.2), \
        f"the restarted watchdog did not start the stopped {unit} again"
