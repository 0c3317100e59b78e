"""The watchdog restarts a hung mosquitto (SIGSTOP) and the cluster delivers again; systemd restarts a hung watchdog
(WatchdogSec). Destructive: runs after the tests that need a healthy cluster."""

import re
import time
import uuid

from mqttcheck import wait_for_bridging, wait_until


def _main_pid(host, unit):
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}"))


def test_watchdog_restarts_a_hung_broker(cluster):
    name = list(cluster.brokers)[-1]
    host = cluster.host(name)
    before = _main_pid(host, "mosquitto")
    assert before > 0
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    host.check_output(f"kill -STOP {before}")
    started = time.monotonic()
    restarted = wait_until(lambda: _main_pid(host, "mosquitto") not in (0, before)
                           and host.service("mosquitto").is_running, 30, interval=0.5)
    elapsed = time.monotonic() - started
    if not restarted:
        host.run(f"kill -CONT {before}")
    assert restarted, "the watchdog did not restart the hung mosquitto within 30 s"
    print(f"hung mosquitto on {name} replaced after {elapsed:.1f} s")
    log = host.check_output(f"journalctl -u mosquitto-ha-watchdog --since '{since}' --no-pager -o cat")
    # Seen stopped by the watchdog's check between probes, not after failed probes.
    assert re.search(r"mosquitto\.service: restarting: stopped \(SIGSTOP\) for \d+\.\d+s", log), log

    # And the restarted broker is back in the cluster.
    topic = f"e2e/watchdog/{uuid.uuid4().hex[:8]}"
    other = [a for n, a in cluster.brokers.items() if n != name][0]
    sub = cluster.client(cluster.brokers[name], cluster.broker_port).connect().subscribe(topic + "/#")
    pub = cluster.client(other, cluster.broker_port).connect()
    try:
        assert wait_for_bridging(pub, [sub], topic + "/probe", timeout=60)
    finally:
        pub.close()
        sub.close()


def test_systemd_brings_back_a_killed_nginx(cluster):
    name = list(cluster.loadbalancers)[-1]
    host = cluster.host(name)
    before = _main_pid(host, "nginx")
    host.check_output(f"kill -9 {before}")
    assert wait_until(lambda: _main_pid(host, "nginx") not in (0, before) and host.service("nginx").is_running,
                      15, interval=0.5)
    assert wait_until(lambda: host.socket("tcp://127.0.0.1:18883").is_listening, 10, interval=0.5)


def test_systemd_restarts_a_hung_watchdog(cluster):
    """The watchdog reports WATCHDOG=1 to systemd before each check: stopped (SIGSTOP), it falls silent, and
    systemd kills it and starts a new one within WatchdogSec, which then watches again."""
    name = list(cluster.brokers)[0]
    host = cluster.host(name)
    unit = "mosquitto-ha-watchdog"
    props = dict(line.split("=", 1) for line in host.check_output(
        f"systemctl show -p Type -p WatchdogUSec -p NRestarts {unit}").splitlines())
    assert props["Type"] == "notify", props
    watchdog_sec = int(props["WatchdogUSec"].rstrip("s")) if props["WatchdogUSec"].rstrip("s").isdigit() else None
    assert watchdog_sec, f"no WatchdogSec on {unit}: {props}"
    before = _main_pid(host, unit)
    assert before > 0
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    host.check_output(f"kill -STOP {before}")
    started = time.monotonic()
    limit = watchdog_sec + 15
    restarted = wait_until(lambda: _main_pid(host, unit) not in (0, before) and host.service(unit).is_running,
                           limit, interval=0.5)
    elapsed = time.monotonic() - started
    if not restarted:
        host.run(f"kill -CONT {before}")
    assert restarted, f"systemd did not restart the stopped watchdog within {limit} s (WatchdogSec={watchdog_sec})"
    print(f"stopped watchdog on {name} replaced after {elapsed:.1f} s (WatchdogSec={watchdog_sec})")
    assert elapsed >= watchdog_sec - 1, f"restarted after {elapsed:.1f} s, before WatchdogSec={watchdog_sec} ran out"
    log = host.check_output(f"journalctl -u {unit} --since '{since}' --no-pager -o cat")
    assert "Watchdog timeout" in log, log
    # The new watchdog is ready and watching: it restarts a stopped mosquitto.
    assert int(dict([host.check_output(f"systemctl show -p NRestarts {unit}").split("=", 1)])["NRestarts"]) > int(
        props["NRestarts"])
    broker = _main_pid(host, "mosquitto")
    host.check_output(f"kill -STOP {broker}")
    replaced = wait_until(lambda: _main_pid(host, "mosquitto") not in (0, broker)
                          and host.service("mosquitto").is_running, 30, interval=0.5)
    if not replaced:
        host.run(f"kill -CONT {broker}")
    assert replaced, "the restarted watchdog did not restart a hung mosquitto within 30 s"
