"""uninstall.yml on the converged cluster. It takes the cluster away, so this file runs after every other one of
the scenario (pytest runs the files in name order; keep this name sorting last).

Refused without -e uninstall_confirm=true, before any host is contacted and with nothing changed; --check changes
nothing; with the confirmation the services are stopped and disabled, every file the roles wrote is gone, the VIP
is off both load balancers, broker data and host keys stay; a second run changes nothing; uninstall_purge=true
then removes the data, the host keys and the generated CA too, and is idempotent as well."""

import os
import socket

import pytest

UNITS = {"mosquitto-ha-watchdog": "all", "mosquitto": "mosquitto", "nginx": "lb", "keepalived": "lb",
         # The metrics role's (the scenario runs with metrics_enabled).
         "prometheus-node-exporter": "all", "mosquitto-ha-metrics.timer": "all"}
REMOVED_UNITS = ("mosquitto-ha-watchdog", "mosquitto-ha-metrics.timer")
# Files and directories the roles write, by kind of host.
WRITTEN = {
    "all": ["/etc/systemd/system/mosquitto-ha-watchdog.service", "/usr/local/libexec/mosquitto-ha",
            "/etc/mosquitto-ha/watchdog.json", "/run/mosquitto-ha",
            "/etc/systemd/system/mosquitto-ha-metrics.service", "/etc/systemd/system/mosquitto-ha-metrics.timer",
            "/etc/mosquitto-ha/metrics.json", "/var/lib/prometheus/node-exporter/mosquitto_ha.prom",
            "/etc/systemd/system/prometheus-node-exporter.service.d"],
    "mosquitto": ["/etc/mosquitto/mosquitto.conf", "/etc/mosquitto/passwd", "/etc/mosquitto/acl",
                  "/etc/mosquitto-ha/passwd.staging", "/etc/mosquitto-ha/watchdog-mqtt-password",
                  "/etc/systemd/system/mosquitto.service.d/mosquitto-ha-limits.conf",
                  "/etc/systemd/system/mosquitto.service.d/mosquitto-ha-restart.conf"],
    "bridge": ["/etc/mosquitto/conf.d/bridge.conf"],
    "lb": ["/etc/nginx/nginx.conf", "/etc/keepalived/keepalived.conf",
           "/etc/systemd/system/nginx.service.d/mosquitto-ha-limits.conf",
           "/etc/systemd/system/nginx.service.d/mosquitto-ha-restart.conf",
           "/etc/systemd/system/keepalived.service.d/mosquitto-ha-restart.conf"],
}


def _playbook():
    from cluster import project_playbook

    return project_playbook("uninstall.yml")


def _kinds(cluster, name):
    kinds = {"all"}
    if name in cluster.brokers or name in cluster.bridge:
        kinds.add("mosquitto")
    if name in cluster.bridge:
        kinds.add("bridge")
    if name in cluster.loadbalancers:
        kinds.add("lb")
    return kinds


def _hosts(cluster):
    return [*cluster.brokers, *cluster.bridge, *cluster.loadbalancers]


def _vip_accepts(cluster):
    try:
        with socket.create_connection((cluster.vip, cluster.port), timeout=3):
            return True
    except OSError:
        return False


def _assert_cluster_running(cluster):
    for name in _hosts(cluster):
        host = cluster.host(name)
        for unit, kind in UNITS.items():
            if kind in _kinds(cluster, name):
                assert host.service(unit).is_running, f"{unit} not running on {name}"
        for path in WRITTEN["all"]:
            assert host.file(path).exists, f"{path} missing on {name}"
    assert len(cluster.vip_holders()) == 1, cluster.vip_holders()
    assert _vip_accepts(cluster)


@pytest.fixture(scope="module")
def uninstalled(cluster):
    """Runs the refused, check-mode and confirmed uninstalls in order; returns their results."""
    from cluster import run_playbook

    runs = {"refused": run_playbook(_playbook()),
            "refused false": run_playbook(_playbook(), "-e", "uninstall_confirm=false")}
    _assert_cluster_running(cluster)  # nothing changed by the refusals
    runs["check"] = run_playbook(_playbook(), "-e", "uninstall_confirm=true", check=True)
    _assert_cluster_running(cluster)  # nor by --check
    data = {n: cluster.host(n).check_output("ls -A /var/lib/mosquitto") for n in (*cluster.brokers, *cluster.bridge)}
    runs["first"] = run_playbook(_playbook(), "-e", "uninstall_confirm=true")
    runs["second"] = run_playbook(_playbook(), "-e", "uninstall_confirm=true")
    runs["data before"] = data
    return runs


@pytest.mark.parametrize("run", ["refused", "refused false"])
def test_refused_without_confirmation_before_any_host(cluster, uninstalled, run):
    rc, output, recap = uninstalled[run]
    assert rc != 0, output[-3000:]
    assert "run it again with -e uninstall_confirm=true" in " ".join(output.split()), output[-3000:]
    assert "PLAY [Uninstall the cluster from every host]" not in output, output[-3000:]
    assert set(recap) == {"localhost"}, recap
    assert recap["localhost"]["changed"] == 0, recap


def test_check_mode_runs_and_reports_what_it_would_change(cluster, uninstalled):
    rc, output, recap = uninstalled["check"]
    assert rc == 0, output[-4000:]
    assert set(recap) >= set(_hosts(cluster)), recap
    assert all(recap[h]["changed"] > 0 and recap[h]["failed"] == 0 for h in _hosts(cluster)), recap


def test_first_run_succeeds(cluster, uninstalled):
    rc, output, recap = uninstalled["first"]
    assert rc == 0, output[-4000:]
    assert all(recap[h]["failed"] == 0 and recap[h]["changed"] > 0 for h in _hosts(cluster)), recap


@pytest.mark.parametrize("unit", list(UNITS))
def test_services_are_stopped_and_disabled(cluster, uninstalled, unit):
    for name in _hosts(cluster):
        host = cluster.host(name)
        service = host.service(unit)
        assert not service.is_running, f"{unit} still runs on {name}"
        if UNITS[unit] in _kinds(cluster, name) and unit not in REMOVED_UNITS:
            assert not service.is_enabled, f"{unit} still enabled on {name}"
    # The units the roles wrote themselves (the watchdog's, the metrics collector's timer) are gone altogether.
    if unit in REMOVED_UNITS:
        for name in _hosts(cluster):
            state = cluster.host(name).run(f"systemctl show -p LoadState --value {unit}")
            assert state.stdout.strip() == "not-found", f"{name}: {state.stdout}"


def test_every_written_file_is_gone(cluster, uninstalled):
    for name in _hosts(cluster):
        host = cluster.host(name)
        for kind in _kinds(cluster, name):
            for path in WRITTEN[kind]:
                assert not host.file(path).exists, f"{path} still on {name}"
        leftovers = host.check_output(
            "find /etc/systemd/system /etc/mosquitto /etc/nginx /etc/keepalived /etc/sysctl.d -name 'mosquitto-ha*'"
            " -o -name '*.conf.*~' 2>/dev/null || true")
        assert leftovers == "", f"{name}: {leftovers}"


def test_vip_is_gone_from_both_load_balancers(cluster, uninstalled):
    for name in cluster.loadbalancers:
        addresses = cluster.host(name).check_output("ip -4 -o addr show")
        assert f" {cluster.vip}/" not in addresses, f"{name}: {addresses}"
    assert not _vip_accepts(cluster)


def _kept_files(listing):
    """The names in a listing of /var/lib/mosquitto, without the file a running mosquitto writes while it saves.

    A running broker saves every broker_autosave_interval seconds: it writes mosquitto.db.new, then renames it
    over mosquitto.db. A listing taken while it runs can show that file for a moment; a stopped broker has none.
    """
    return sorted(n for n in listing.split() if n != "mosquitto.db.new")


def test_broker_data_and_host_keys_are_kept(cluster, uninstalled):
    for name, before in uninstalled["data before"].items():
        host = cluster.host(name)
        assert "mosquitto.db" in before.split(), before
        after = host.check_output("ls -A /var/lib/mosquitto")
        assert "mosquitto.db.new" not in after.split(), f"{name}: {after}"
        assert _kept_files(after) == _kept_files(before), f"{name}: {before!r} then {after!r}"
        assert host.file(f"/etc/mosquitto-ha/pki/{name}.key").exists, name
        assert host.file(f"/etc/mosquitto-ha/pki/{name}.crt").exists, name
    assert os.path.exists(cluster.cafile)


def test_second_run_changes_nothing(cluster, uninstalled):
    rc, output, recap = uninstalled["second"]
    assert rc == 0, output[-4000:]
    changed = {h: r for h, r in recap.items() if r["changed"] or r["failed"] or r["unreachable"]}
    assert not changed, f"{changed}\n{output[-4000:]}"


def test_purge_removes_data_keys_and_ca_and_is_idempotent(cluster, uninstalled):
    """Last: after it the scenario has no CA left on the controller."""
    from cluster import run_playbook

    rc, output, recap = run_playbook(_playbook(), "-e", "uninstall_confirm=true", "-e", "uninstall_purge=true")
    assert rc == 0, output[-4000:]
    for name in uninstalled["data before"]:
        host = cluster.host(name)
        assert host.check_output("ls -A /var/lib/mosquitto") == "", name
        assert not host.file("/etc/mosquitto-ha").exists, name
    for name in cluster.loadbalancers:
        assert not cluster.host(name).file("/etc/mosquitto-ha").exists, name
    assert not os.path.exists(os.path.dirname(cluster.cafile))
    rc, output, recap = run_playbook(_playbook(), "-e", "uninstall_confirm=true", "-e", "uninstall_purge=true")
    assert rc == 0, output[-4000:]
    changed = {h: r for h, r in recap.items() if r["changed"] or r["failed"]}
    assert not changed, f"{changed}\n{output[-4000:]}"
