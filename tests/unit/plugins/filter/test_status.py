"""Unit tests for plugins/filter/status.py: raw readings as the status playbook collects them, as plain dicts."""

import datetime
import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "filter" / "status.py"
_SPEC = importlib.util.spec_from_file_location("status", _PATH)
status = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(status)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
LAYOUT = {"brokers": ["b1", "b2"], "bridge": ["br"], "loadbalancers": ["lb1", "lb2"], "vip": "10.0.0.100",
          "e2e": {"publisher": "b1", "topic": "mosquitto-ha/status/x", "published": True}}


def units(**states):
    """service_facts entries (as the playbook reads them) passed through status_unit."""
    services = {}
    for unit in ("mosquitto", "nginx", "keepalived", "mosquitto-ha-watchdog"):
        active = states.get(unit.replace("-", "_"))
        if active is not None:
            services[f"{unit}.service"] = {"name": f"{unit}.service", "source": "systemd",
                                           "state": "running" if active == "active" else "stopped",
                                           "status": "failed" if active == "failed" else "enabled"}
    return [status.status_unit(f"{unit}.service", services)
            for unit in ("mosquitto", "nginx", "keepalived", "mosquitto-ha-watchdog")]


def certs(days=800, ca_days=3000, host=True):
    """The status role's readings: the CA and, on mosquitto hosts, the host certificate (load balancers have none)."""
    def end(d):
        return datetime.datetime.fromtimestamp(NOW + d * 86400 + 3600, datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")
    return [{"path": "/etc/mosquitto-ha/pki/ca.crt", "name": "ca", "not_after": end(ca_days)}] + (
        [{"path": "/etc/mosquitto-ha/pki/h.crt", "name": "host", "not_after": end(days)}] if host else [])


SYS = "\n".join([
    "$SYS/broker/version mosquitto version 2.0.11", "$SYS/broker/uptime 3725 seconds",
    "$SYS/broker/clients/connected 3", "$SYS/broker/load/messages/received/1min 120.5",
    "$SYS/broker/load/messages/sent/1min 60.0"])
BRIDGE_CONF = "# b1\nconnection bridge-b1\naddress 10.0.0.11:8883\nremote_clientid br.bridge-b1\n" \
              "# b2\nconnection bridge-b2\naddress 10.0.0.12:8883\nremote_clientid br.bridge-b2\n"


def mosquitto_host(sys=SYS, active="active", **extra):
    raw = {"units": units(mosquitto=active, mosquitto_ha_watchdog="active"), "renew_days": 30, "certs": certs(),
           "watchdog": {"journal": ""}, "e2e": {"received": 1},
           "mosquitto": {"sys_out": sys, "sys_err": "", "package_version": "2.0.11-1.2",
                         "persistence": {"enabled": True, "exists": True, "age": 1.5, "stale_after": 60,
                                         "path": "/var/lib/mosquitto/mosquitto.db"}}}
    raw["mosquitto"].update(extra)
    return raw


def lb_host(holds, state="MASTER", nginx="active", reachable=(True, True)):
    addresses = "2: eth0    inet 10.0.0.31/24 brd 10.0.0.255 scope global eth0\n"
    if holds:
        addresses += "2: eth0    inet 10.0.0.100/24 scope global secondary eth0\n"
    return {"units": units(nginx=nginx, keepalived="active", mosquitto_ha_watchdog="active"), "renew_days": 30,
            "certs": certs(host=False), "watchdog": {"journal": ""},
            "lb": {"addresses": addresses, "keepalived_conf": "    vrrp_version 3\n    advert_int 0.25\n",
                   "vrrp_journal": f"(VI_1) Entering {state} STATE",
                   "upstreams": [{"name": n, "address": a, "port": 8883, "reachable": r} for n, a, r in
                                 zip(["b1", "b2"], ["10.0.0.11", "10.0.0.12"], reachable)]}}


def healthy():
    states = "$SYS/broker/connection/br.bridge-b1/state 1\n$SYS/broker/connection/br.bridge-b2/state 1"
    return {"b1": mosquitto_host(), "b2": mosquitto_host(),
            "br": mosquitto_host(sys=SYS + "\n" + states, bridge_conf=BRIDGE_CONF, bridge_state=""),
            "lb1": lb_host(True), "lb2": lb_host(False, "BACKUP")}


def check(raws, layout=None):
    return status.cluster_status(raws, LAYOUT if layout is None else layout, now=NOW)


def test_healthy_cluster_is_ok_with_a_row_per_aspect():
    result = check(healthy())
    assert result["problems"] == []
    assert result["ok"] is True
    rows = {(r["component"], r["host"], r["check"]): r for r in result["rows"]}
    assert rows[("broker", "b1", "mosquitto")]["value"] == "active 2.0.11, up 1h02m, 3 clients, in 2.0/s, out 1.0/s"
    assert rows[("bridge", "br", "link bridge-b2")]["value"] == "up to b2 (10.0.0.12:8883)"
    assert rows[("loadbalancer", "lb1", "vrrp")]["value"] == "MASTER, VIP held, VRRP v3, advert 0.25 s"
    assert rows[("loadbalancer", "-", "VIP")]["value"] == "10.0.0.100 on lb1"
    assert rows[("certificate", "b1", "host")]["value"] == "800 days left"
    assert rows[("certificate", "lb1", "ca")]["value"] == "3000 days left"
    assert ("certificate", "lb1", "host") not in rows  # load balancers have no host certificate
    assert rows[("end-to-end", "b1", "delivery")]["value"].endswith("received at 3/3 brokers")
    assert result["summary"]["links_up"] == 2
    assert all(r["status"] == "OK" for r in result["rows"])


def test_a_link_down_is_named():
    raws = healthy()
    raws["br"]["mosquitto"]["sys_out"] = raws["br"]["mosquitto"]["sys_out"].replace("br.bridge-b2/state 1",
                                                                                    "br.bridge-b2/state 0")
    result = check(raws)
    assert result["problems"] == ["bridge link bridge-b2 (br -> b2) is down"]
    assert result["ok"] is False


def test_a_link_without_state_is_a_problem():
    raws = healthy()
    raws["br"]["mosquitto"]["sys_out"] = SYS + "\n$SYS/broker/connection/br.bridge-b1/state 1"
    assert check(raws)["problems"] == ["bridge link bridge-b2 (br -> b2) is no state published"]


def test_a_stopped_broker_its_link_its_upstream_and_the_end_to_end_message():
    raws = healthy()
    raws["b2"] = mosquitto_host(active="inactive", sys="")
    raws["b2"]["e2e"] = {"received": 0}
    raws["br"]["mosquitto"]["sys_out"] = raws["br"]["mosquitto"]["sys_out"].replace("bridge-b2/state 1",
                                                                                    "bridge-b2/state 0")
    raws["lb1"] = lb_host(True, reachable=(True, False))
    problems = check(raws)["problems"]
    assert "b2: mosquitto is inactive (stopped)" in problems
    assert "bridge link bridge-b2 (br -> b2) is down" in problems
    assert "lb1: upstream broker b2 10.0.0.12:8883 is unreachable from this load balancer" in problems
    assert "end-to-end: the message published through the VIP did not reach b2" in problems


@pytest.mark.parametrize("holders,expected", [
    ((False, False), "VIP 10.0.0.100 is on no node"),
    ((True, True), "VIP 10.0.0.100 is on 2 nodes (lb1, lb2)"),
])
def test_vip_on_no_node_or_two(holders, expected):
    raws = healthy()
    raws["lb1"] = lb_host(holders[0], "MASTER" if holders[0] else "BACKUP")
    raws["lb2"] = lb_host(holders[1], "MASTER" if holders[1] else "BACKUP")
    assert check(raws)["problems"] == [expected]


def test_master_without_vip_and_fault_and_nginx_down():
    raws = healthy()
    raws["lb2"] = lb_host(False, "FAULT", nginx="failed")
    problems = check(raws)["problems"]
    assert problems == ["lb2: nginx is failed (stopped)", "lb2: keepalived is in FAULT state"]
    raws["lb2"] = lb_host(False, "MASTER")
    assert check(raws)["problems"] == ["lb2: keepalived is MASTER but does not hold the VIP 10.0.0.100"]


def test_certificate_within_the_renewal_window():
    raws = healthy()
    raws["b1"]["certs"] = certs(days=30)
    raws["lb1"]["certs"] = certs(ca_days=31, host=False)
    assert check(raws)["problems"] == [
        "b1: certificate /etc/mosquitto-ha/pki/h.crt expires in 30 days (renewal window 30 days)"]
    raws["lb1"]["certs"] = certs(ca_days=30, host=False)
    assert check(raws)["problems"][-1] == (
        "lb1: certificate /etc/mosquitto-ha/pki/ca.crt expires in 30 days (renewal window 30 days)")
    raws["lb1"]["certs"] = certs(ca_days=31, host=False)
    raws["b1"]["renew_days"] = 10
    assert check(raws)["ok"] is True


def test_ca_expiry_and_unreadable_certificate():
    raws = healthy()
    raws["b2"]["certs"] = certs(ca_days=-2)
    raws["b2"]["certs"][1] = {"path": "/x/b2.crt", "name": "host", "not_after": None, "error": "no such file"}
    assert check(raws)["problems"] == [
        "b2: certificate /etc/mosquitto-ha/pki/ca.crt expires in -2 days (renewal window 30 days)",
        "b2: certificate /x/b2.crt could not be read"]


def test_unreachable_host_and_unread_sys():
    raws = healthy()
    del raws["lb2"]
    raws["b1"] = mosquitto_host(sys="", sys_err="Connection error: Connection Refused: not authorised.")
    problems = check(raws)["problems"]
    assert "lb2: unreachable, nothing could be read" in problems
    assert ("b1: mosquitto is active but its $SYS could not be read (Connection error: Connection Refused: "
            "not authorised.)") in problems


def test_watchdog_restarts_are_listed_and_a_stopped_watchdog_is_a_problem():
    raws = healthy()
    raws["b1"]["watchdog"]["journal"] = (
        "2026-01-01T10:00:00+0000 b1 mosquitto-ha-watchdog[5]: mosquitto.service: restarting: unit is failed\n"
        "2026-01-01T10:01:00+0000 b1 mosquitto-ha-watchdog[5]: mosquitto.service: NOT restarting (unit is failed):"
        " already restarted 5 times in 300s; waiting for the rate limit to clear\n")
    result = check(raws)
    row = [r for r in result["rows"] if r["component"] == "watchdog" and r["host"] == "b1"][0]
    assert row["value"] == ("active, 1 restart in 24 h: 2026-01-01T10:00:00+0000 mosquitto.service: unit is failed; "
                            "1 refused by the rate limit")
    assert result["summary"]["watchdog_restarts"] == 1
    assert result["ok"] is True
    raws["lb1"]["units"] = units(nginx="active", keepalived="active", mosquitto_ha_watchdog="inactive")
    assert check(raws)["problems"] == ["lb1: the watchdog is inactive (stopped)"]


def test_stale_or_missing_persistence_file():
    raws = healthy()
    raws["b1"]["mosquitto"]["persistence"]["age"] = 600
    raws["b2"]["mosquitto"]["persistence"]["exists"] = False
    assert check(raws)["problems"] == [
        "b1: persistence file /var/lib/mosquitto/mosquitto.db last written 10m00s ago",
        "b2: persistence file /var/lib/mosquitto/mosquitto.db is missing"]


def test_standby_bridge_master_is_not_a_problem_but_no_active_one_is():
    layout = dict(LAYOUT, bridge=["br", "br2"])
    raws = healthy()
    raws["br2"] = mosquitto_host(active="inactive", sys="", bridge_state="BACKUP")
    raws["br2"]["e2e"] = {"received": 0}
    result = check(raws, layout)
    assert result["ok"] is True, result["problems"]
    assert [r["value"] for r in result["rows"] if r["host"] == "br2" and r["check"] == "mosquitto"] == \
        ["standby (BACKUP, mosquitto inactive)"]
    raws["br"] = mosquitto_host(active="inactive", sys="", bridge_state="BACKUP")
    assert "no bridge master relays: none of br, br2 runs mosquitto" in check(raws, layout)["problems"]


def test_publish_failure():
    layout = dict(LAYOUT, e2e={"publisher": "b1", "published": False, "error": "Connection refused"})
    assert check(healthy(), layout)["problems"] == [
        "end-to-end: the message could not be published through the VIP (Connection refused)"]


def test_table_lines():
    lines = status.status_table(check(healthy()))
    assert lines[0].split() == ["COMPONENT", "HOST", "CHECK", "STATUS", "VALUE"]
    assert lines[-1] == "cluster: OK"
    assert any(line.startswith("bridge ") and "link bridge-b1" in line and " OK " in line for line in lines)
    assert len({line.index("STATUS") if "STATUS" in line else None for line in lines[:1]}) == 1
    degraded = healthy()
    del degraded["b2"]
    assert status.status_table(check(degraded))[-1].startswith("cluster: DEGRADED: ")


def test_helpers_for_module_results():
    assert status.parse_units([status.status_unit("nginx.service", {})]) == \
        {"nginx": {"active": "not installed", "sub": ""}}
    assert status.status_cert({"item": "/p/ca.crt", "not_after": "20300101000000Z"}) == \
        {"path": "/p/ca.crt", "name": "ca", "not_after": "20300101000000Z"}
    assert status.status_cert({"item": "/p/b1.crt", "failed": True, "msg": "no such file"})["error"] == "no such file"
    item = {"name": "b1", "address": "10.0.0.11", "port": 8883}
    assert status.status_upstream({"item": item, "elapsed": 0, "state": "started"})["reachable"] is True
    assert status.status_upstream({"item": item, "failed": False, "elapsed": 2,
                                   "msg": "Timeout when waiting for 10.0.0.11:8883"})["reachable"] is False


def test_a_restart_left_due_is_a_problem_naming_the_host_and_daemon():
    raws = healthy()
    raws["b2"]["restart_due"] = ["mosquitto"]
    raws["lb1"]["restart_due"] = ["nginx"]
    result = check(raws)
    assert not result["ok"]
    due = [row for row in result["rows"] if row["component"] == "restart"]
    assert [(row["host"], row["check"], row["status"]) for row in due] == \
        [("b2", "mosquitto", "PROBLEM"), ("lb1", "nginx", "PROBLEM")]
    assert len(result["problems"]) == 2
    assert result["problems"][0].startswith("b2: mosquitto still runs its old configuration")
    assert "run site.yml again" in result["problems"][1] and result["problems"][1].startswith("lb1: nginx")


def test_no_restart_due_adds_no_row():
    raws = healthy()
    for raw in raws.values():
        raw["restart_due"] = []
    result = check(raws)
    assert result["ok"], result["problems"]
    assert not [row for row in result["rows"] if row["component"] == "restart"]
