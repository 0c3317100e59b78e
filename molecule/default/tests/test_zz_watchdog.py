"""The watchdog restarts a hung mosquitto (SIGSTOP) and the cluster delivers again. Runs last: it breaks things."""

import re
import time
import uuid

from mqttcheck import Client, wait_for_bridging, wait_until


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
    assert re.search(r"mosquitto\.service: restarting: \d+ probes in a row failed", log), log

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
