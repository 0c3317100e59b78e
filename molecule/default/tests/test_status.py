"""The status playbook (mosquitto_ha.cluster.status): a table of the healthy cluster, ok and changed=0, in check
mode too; one JSON document on request; a broker taken down makes it fail with lines naming the broker and its
bridge link; back up, it is ok again. Sorts before the destructive test_zz_* files and leaves the cluster healthy."""

import json
import os
import re
import time
import uuid

from cluster import run_status
from mqttcheck import wait_for_bridging

PAUSE = "/run/mosquitto-ha/watchdog-pause/mosquitto.service"


def _nodes(cluster):
    return set(cluster.brokers) | set(cluster.bridge) | set(cluster.loadbalancers)


def _assert_healthy(cluster, rc, output, recap):
    assert rc == 0, output[-6000:]
    assert set(recap) >= _nodes(cluster) | {"localhost"}, output[-3000:]
    changed = {h: r for h, r in recap.items() if r["changed"] or r["failed"] or r.get("unreachable")}
    assert not changed, f"the status run changed or failed something: {changed}\n{output[-4000:]}"
    assert "cluster: OK" in output
    bridge = list(cluster.bridge)[0]
    for broker in cluster.brokers:
        assert re.search(rf"broker\s+{re.escape(broker)}\s+mosquitto\s+OK\s+active \S+, up \S+, \d+ clients, "
                         r"in [\d.]+/s, out [\d.]+/s", output), output[-6000:]
        assert re.search(rf"bridge\s+{re.escape(bridge)}\s+link bridge-{re.escape(broker)}\s+OK\s+up to "
                         rf"{re.escape(broker)} ", output), output[-6000:]
        assert re.search(rf"certificate\s+{re.escape(broker)}\s+host\s+OK\s+\d+ days left", output)
    holder = [lb for lb in cluster.loadbalancers
              if re.search(rf"loadbalancer\s+{re.escape(lb)}\s+vrrp\s+OK\s+MASTER, VIP held", output)]
    assert len(holder) == 1, output[-6000:]
    assert re.search(rf"loadbalancer\s+-\s+VIP\s+OK\s+{re.escape(cluster.vip)} on {holder[0]}", output)
    mosquitto_hosts = len(cluster.brokers) + len(cluster.bridge)
    assert f"received at {mosquitto_hosts}/{mosquitto_hosts} brokers" in output, output[-6000:]


def test_status_of_the_healthy_cluster(cluster):
    rc, output, recap = run_status()
    _assert_healthy(cluster, rc, output, recap)
    # No secret reaches the output.
    watchdog_password = cluster.host(list(cluster.brokers)[0]).check_output(
        "cat /etc/mosquitto-ha/watchdog-mqtt-password")
    assert watchdog_password and watchdog_password not in output


def test_status_in_check_mode(cluster):
    rc, output, recap = run_status(check=True)
    _assert_healthy(cluster, rc, output, recap)


def test_status_as_json(cluster):
    rc, output, _recap = run_status("-e", "status_format=json",
                                    env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                                         "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    assert rc == 0, output[-4000:]
    stdout = run_status.stdout
    document = json.loads(stdout[stdout.index("{"):])
    results = [task["hosts"]["localhost"]["msg"] for play in document["plays"] for task in play["tasks"]
               if task["task"]["name"].endswith("Cluster status (JSON)") and "localhost" in task["hosts"]]
    assert len(results) == 1
    status = results[0]
    assert status["ok"] is True and status["problems"] == []
    assert status["summary"]["links_up"] == status["summary"]["links"] == len(cluster.brokers)
    assert status["summary"]["vip_holders"] and len(status["summary"]["vip_holders"]) == 1
    assert status["summary"]["e2e_received"] == len(cluster.brokers) + len(cluster.bridge)
    assert {row["host"] for row in status["rows"]} >= _nodes(cluster)


def test_a_broker_down_is_named_then_ok_again(cluster):
    name = list(cluster.brokers)[-1]
    bridge = list(cluster.bridge)[0]
    host = cluster.host(name)
    # The watchdog would restart the stopped broker at once: pause it for mosquitto on this host.
    host.check_output(f"mkdir -p {os.path.dirname(PAUSE)} && touch {PAUSE}")
    try:
        host.check_output("systemctl stop mosquitto")
        time.sleep(3)  # the bridge master notices the closed link and publishes its state 0
        rc, output, recap = run_status()
        assert rc != 0, output[-6000:]
        assert not any(r["changed"] for r in recap.values()), recap
        assert f"{name}: mosquitto is inactive (stopped)" in output, output[-6000:]
        assert re.search(rf"bridge link bridge-{re.escape(name)} \({re.escape(bridge)} -> {re.escape(name)}\) "
                         r"is down", output), output[-6000:]
        assert re.search(rf"end-to-end: the message published through the VIP did not reach [^\n]*{re.escape(name)}",
                         output), output[-6000:]
        assert "cluster: DEGRADED" in output
        # The other broker's rows stay OK.
        other = [b for b in cluster.brokers if b != name][0]
        assert re.search(rf"broker\s+{re.escape(other)}\s+mosquitto\s+OK", output)
    finally:
        host.run("systemctl start mosquitto")
        host.run(f"rm -f {PAUSE}")
    # Bridged again before the next run.
    topic = f"e2e/status/{uuid.uuid4().hex[:8]}"
    sub = cluster.client(cluster.brokers[name], cluster.broker_port).connect().subscribe(topic + "/#")
    pub = cluster.client(cluster.vip, cluster.port).connect()
    try:
        assert wait_for_bridging(pub, [sub], topic + "/probe", timeout=60)
    finally:
        pub.close()
        sub.close()
    rc, output, recap = run_status()
    _assert_healthy(cluster, rc, output, recap)
