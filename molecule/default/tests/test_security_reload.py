"""Users and ACL change by a reload (SIGHUP), not a restart: connected clients stay, a new user gets in, a user
taken out of broker_users is removed from the password file and refused. Restores the scenario's users."""

import json
import time

from cluster import project_playbook, run_playbook
from mqttcheck import wait_until

HOST = "mha-broker2"


def _site(cluster, users):
    playbook = project_playbook("site.yml")
    extra = json.dumps({"broker_users": users})
    return run_playbook(playbook, "--limit", HOST, "--tags", "broker_configure,broker_service", "-e", extra)


def _main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value mosquitto"))


def _scenario_users(cluster):
    return [{"username": cluster.username, "password": cluster.password},
            {"username": "alice", "password": "alice-molecule-secret"},
            {"username": "bob", "password": "bob-molecule-secret"}]


def test_adding_and_removing_a_user_reloads_mosquitto(cluster):
    host = cluster.host(HOST)
    address = cluster.brokers[HOST]
    pid = _main_pid(host)
    connected = cluster.client(address, cluster.broker_port).connect()
    carol = {"username": "carol", "password": "carol-molecule-secret"}
    try:
        rc, output, recap = _site(cluster, _scenario_users(cluster) + [carol])
        assert rc == 0, output[-3000:]
        assert recap[HOST]["changed"] >= 1, output[-3000:]
        assert "carol-molecule-secret" not in output
        assert "RUNNING HANDLER [mosquitto_ha.cluster.broker : Reload mosquitto]" in output, output[-3000:]
        assert "RUNNING HANDLER [mosquitto_ha.cluster.broker : Restart mosquitto]" not in output, output[-3000:]
        assert _main_pid(host) == pid, "mosquitto was restarted, not reloaded"
        cluster.client(address, cluster.broker_port, **carol).connect().close()
        time.sleep(1)
        assert connected.mqtt.is_connected(), "a client was dropped by the reload"
    finally:
        rc, output, _unused = _site(cluster, _scenario_users(cluster))
    assert rc == 0, output[-3000:]
    assert _main_pid(host) == pid
    users = host.check_output("cut -d: -f1 /etc/mosquitto/passwd").split()
    assert "carol" not in users and cluster.username in users, users
    refused = cluster.client(address, cluster.broker_port, **carol)
    try:
        refused.connect(timeout=5)
        raise AssertionError("carol was still accepted after she was removed")
    except TimeoutError:
        pass
    assert wait_until(connected.mqtt.is_connected, 2), "the test user's connection was dropped"
    connected.close()
