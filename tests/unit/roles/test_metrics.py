"""The metrics role's collector (its parsing and exposition text), and that the example alert rules and the
Grafana dashboard use only metrics that exist."""

import importlib.machinery
import importlib.util
import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
FILES = ROOT / "roles" / "metrics" / "files"
_LOADER = importlib.machinery.SourceFileLoader("metrics_collector", str(FILES / "mosquitto-ha-metrics"))
_SPEC = importlib.util.spec_from_loader("metrics_collector", _LOADER)
collector = importlib.util.module_from_spec(_SPEC)
_LOADER.exec_module(collector)

_METRIC = re.compile(r"\b((?:mosquitto_ha|node)_[a-z0-9_]+)\b")


def test_render_groups_samples_with_help_and_type():
    text = collector.render([
        ("mosquitto_ha_bridge_link_up", {"connection": "bridge-b1"}, True),
        ("mosquitto_ha_collector_timestamp_seconds", {}, 1700000000.5),
        ("mosquitto_ha_bridge_link_up", {"connection": "bridge-b2"}, False),
    ])
    lines = text.splitlines()
    assert "# TYPE mosquitto_ha_bridge_link_up gauge" in lines
    assert 'mosquitto_ha_bridge_link_up{connection="bridge-b1"} 1' in lines
    assert 'mosquitto_ha_bridge_link_up{connection="bridge-b2"} 0' in lines
    assert "mosquitto_ha_collector_timestamp_seconds 1700000000.5" in lines
    # One HELP and TYPE per metric, before its samples.
    assert text.count("# HELP mosquitto_ha_bridge_link_up ") == 1


def test_render_escapes_label_values():
    text = collector.render([("mosquitto_ha_unit_active", {"unit": 'a"b\\c\nd'}, 1)])
    assert 'mosquitto_ha_unit_active{unit="a\\"b\\\\c\\nd"} 1' in text.splitlines()


def test_render_refuses_an_undescribed_metric():
    with pytest.raises(ValueError, match="without a description"):
        collector.render([("mosquitto_ha_made_up", {}, 1)])


def test_parse_sys_reads_figures_and_links():
    figures, links = collector.parse_sys(
        "$SYS/broker/clients/connected 3\n"
        "$SYS/broker/uptime 1234 seconds\n"
        "$SYS/broker/load/messages/received/1min 12.5\n"
        "$SYS/broker/load/messages/sent/1min oops\n"
        "$SYS/broker/connection/bridge-broker1/state 1\n"
        "$SYS/broker/connection/bridge-broker2/state 0\n")
    assert figures == {"mosquitto_ha_mosquitto_clients_connected": 3.0,
                       "mosquitto_ha_mosquitto_uptime_seconds": 1234.0,
                       "mosquitto_ha_mosquitto_messages_received_per_minute": 12.5}
    assert links == {"bridge-broker1": True, "bridge-broker2": False}


def test_bridge_connections_of_a_configuration():
    conf = ("# bridge\nconnection bridge-broker1\naddress 10.0.0.1:8883\nremote_clientid bridge1.bridge-broker1\n"
            "connection bridge-broker2\nconnection\n")
    assert collector.bridge_connections(conf) == {"bridge-broker1": "bridge1.bridge-broker1",
                                                  "bridge-broker2": "bridge-broker2"}


def test_values_keep_their_precision():
    text = collector.render([("mosquitto_ha_collector_timestamp_seconds", {}, 1796510000.25),
                             ("mosquitto_ha_certificate_not_after_timestamp_seconds", {"certificate": "ca"},
                              2111870000.0)])
    assert "mosquitto_ha_collector_timestamp_seconds 1796510000.25" in text.splitlines()
    assert 'mosquitto_ha_certificate_not_after_timestamp_seconds{certificate="ca"} 2111870000' in text.splitlines()


def test_count_watchdog_restarts_and_refusals():
    journal = ("mosquitto.service: restarting: 2 probes in a row failed\n"
               "nginx.service: restarting: dead (failed)\n"
               "mosquitto.service: restarting: dead (failed)\n"
               "mosquitto.service: NOT restarting (dead): already restarted 5 times in 300 s\n")
    restarts, refused = collector.count_watchdog(journal, ["mosquitto.service", "nginx.service",
                                                           "keepalived.service"])
    assert restarts == {"mosquitto.service": 2, "nginx.service": 1, "keepalived.service": 0}
    assert refused == {"mosquitto.service": 1, "nginx.service": 0, "keepalived.service": 0}


def test_vrrp_state_is_the_last_transition():
    journal = "(VI_1) Entering BACKUP STATE\n(VI_1) Entering MASTER STATE\n(VI_1) Entering FAULT STATE\n"
    assert collector.vrrp_state(journal, True) == "FAULT"
    assert collector.vrrp_state(journal, False) == "STOPPED"
    assert collector.vrrp_state("", True) == "BACKUP"


def _known_node_metric(name):
    # The exporter's own metrics the dashboard uses.
    return name in {"node_cpu_seconds_total"}


def test_alert_rules_use_only_existing_metrics():
    rules = yaml.safe_load((FILES / "prometheus-alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    names = {name for expr in exprs for name in _METRIC.findall(expr)}
    assert names, exprs
    assert sorted(n for n in names if n not in collector.METRICS and not _known_node_metric(n)) == []
    # The alerts the role documents.
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"MosquittoHABridgeLinkDown", "MosquittoHAVipOnNoNode", "MosquittoHAVipOnTwoNodes",
            "MosquittoHAWatchdogRestartLoop", "MosquittoHACertificateExpiresSoon"} <= alerts


def test_alert_rule_tests_cover_the_critical_alerts():
    tests = yaml.safe_load((FILES / "prometheus-alerts.test.yml").read_text(encoding="utf-8"))
    fired = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {"MosquittoHABridgeLinkDown", "MosquittoHAVipOnNoNode", "MosquittoHAVipOnTwoNodes",
            "MosquittoHABrokerDown", "MosquittoHAWatchdogRestartLoop", "MosquittoHACertificateExpiresSoon"} <= fired


def test_dashboard_is_valid_and_uses_only_existing_metrics():
    dashboard = json.loads((FILES / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = {name for expr in exprs for name in _METRIC.findall(expr)}
    assert sorted(n for n in names if n not in collector.METRICS and not _known_node_metric(n)) == []
    # Every metric of the collector is on the dashboard.
    assert sorted(set(collector.METRICS) - names) == []
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_readme_lists_every_metric():
    readme = (ROOT / "roles" / "metrics" / "README.md").read_text(encoding="utf-8")
    missing = [n for n in collector.METRICS if n not in readme and n.replace("received", "sent") not in readme
               and not (n.endswith("_sent_per_minute") and "..._sent_per_minute" in readme)]
    assert missing == []
