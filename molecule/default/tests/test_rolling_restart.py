"""site.yml configures the brokers and the bridge master together and restarts them one at a time: a change that
needs a restart restarts every broker, then the bridge master, each only after the one before it is active again;
check mode says so without restarting; a restart that an interrupted run left due is shown by status.yml and done by
the next run, although that run changes nothing."""

import uuid

import pytest

from cluster import project_playbook, run_playbook, run_status

MARK = "/run/mosquitto-ha-restart-due-mosquitto"
RESTART_TASK = "Restart mosquitto for the configuration change"


def _site(*extra, check=False):
    playbook = project_playbook("site.yml")
    return run_playbook(playbook, *extra, check=check)


def _unit(host):
    """mosquitto's main PID and the monotonic times (µs, one clock for all containers: they share the kernel) at which
    it last entered and left the active state."""
    out = host.check_output("systemctl show -p MainPID -p ActiveEnterTimestampMonotonic "
                            "-p ActiveExitTimestampMonotonic mosquitto")
    values = dict(line.split("=", 1) for line in out.splitlines())
    return {key: int(value or 0) for key, value in values.items()}


def _restarted(output):
    """The hosts on which the rolling restart task restarted mosquitto, in the order the run did it."""
    hosts, in_task = [], False
    for line in output.splitlines():
        if line.startswith("TASK ["):
            in_task = RESTART_TASK in line
        elif in_task and line.startswith("changed: ["):
            hosts.append(line[len("changed: ["):].split("]")[0])
    return hosts


@pytest.fixture(scope="module")
def brokers(cluster):
    return {name: cluster.host(name) for name in cluster.brokers}


@pytest.fixture(scope="module")
def mosquitto_hosts(cluster, brokers):
    """The brokers, then the bridge master: the order of the rolling restart."""
    return {**brokers, **{name: cluster.host(name) for name in cluster.bridge}}


def test_a_restart_left_due_is_done_by_the_next_run(cluster, brokers):
    first, second = list(brokers)[:2]
    before = {name: _unit(host) for name, host in brokers.items()}
    brokers[first].check_output(f"printf 'due\\n' > {MARK}")
    rc, output, _recap = run_status()
    assert rc != 0, output[-3000:]
    assert f"{first}: mosquitto still runs its old configuration" in output, output[-3000:]
    assert f"{second}: mosquitto still runs" not in output
    rc, output, _recap = _site("--tags", "broker_restart")
    assert rc == 0, output[-3000:]
    assert _restarted(output) == [first], output[-3000:]
    assert _unit(brokers[first])["MainPID"] != before[first]["MainPID"]
    assert _unit(brokers[second])["MainPID"] == before[second]["MainPID"], "a broker without the mark restarted"
    assert not brokers[first].file(MARK).exists
    assert cluster.bridged(f"e2e/rolling/{uuid.uuid4().hex[:8]}")


def test_a_change_restarts_the_brokers_one_at_a_time_then_the_bridge_master(cluster, mosquitto_hosts):
    hosts = mosquitto_hosts  # the bridge master runs the broker role too
    bridge = list(cluster.bridge)[0]
    limit = ("--limit", ",".join(hosts))
    change = ("-e", '{"broker_max_keepalive": 299}')
    before = {name: _unit(host) for name, host in hosts.items()}

    rc, output, _recap = _site(*limit, *change, check=True)
    assert rc == 0, output[-3000:]
    assert sorted(_restarted(output)) == sorted(hosts), output[-3000:]
    assert {name: _unit(host)["MainPID"] for name, host in hosts.items()} == \
        {name: unit["MainPID"] for name, unit in before.items()}, "check mode restarted a broker"
    assert not any(host.file(MARK).exists for host in hosts.values())

    try:
        rc, output, _recap = _site(*limit, *change)
        assert rc == 0, output[-3000:]
        order = _restarted(output)
        assert sorted(order) == sorted(hosts), output[-3000:]
        assert order[-1] == bridge, f"the bridge master restarted before a broker: {order}"
        after = {name: _unit(host) for name, host in hosts.items()}
        for name in hosts:
            assert after[name]["MainPID"] != before[name]["MainPID"], f"{name} was not restarted"
            assert "max_keepalive 299" in hosts[name].file("/etc/mosquitto/mosquitto.conf").content_string
            assert not hosts[name].file(MARK).exists
        # Each broker went down only after the one restarted before it was active again.
        for earlier, later in zip(order, order[1:]):
            assert after[later]["ActiveExitTimestampMonotonic"] > after[earlier]["ActiveEnterTimestampMonotonic"], \
                f"{later} stopped before {earlier} was back: {after}"
    finally:
        rc, output, _recap = _site(*limit)
    assert rc == 0, output[-3000:]
    assert sorted(_restarted(output)) == sorted(hosts), output[-3000:]
    assert cluster.bridged(f"e2e/rolling/{uuid.uuid4().hex[:8]}")
