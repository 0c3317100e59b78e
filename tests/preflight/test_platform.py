"""Hosts the collection cannot run on are refused by the preflight play, one clear message each: an operating
system other than Debian 12/13 (unless cluster_allow_unsupported_os), a service manager other than systemd, a
load balancer whose root lacks CAP_NET_ADMIN. The hosts are local-connection stand-ins for this machine; the
facts-based values of roles/cluster/tasks/platform.yml are replaced with extra vars to play other hosts."""

import json
import os
import pathlib
import re
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GROUPS = {"brokers": ["broker1", "broker2"], "bridge": ["bridge1"], "loadbalancers": ["lb1", "lb2"]}
# The stand-in hosts run on this machine, whose service manager may not be systemd (CI runs in a container):
# the cases that are not about it say systemd.
SYSTEMD = {"__cluster_service_mgr": "systemd"}


def run_preflight(tmp_path, extra_vars, playbook="site.yml"):
    names = [h for hosts in GROUPS.values() for h in hosts]
    children = {g: {"hosts": {h: {"cluster_address": f"192.0.2.{10 + names.index(h)}"} for h in hosts}}
                for g, hosts in GROUPS.items()}
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "cluster_vip": "192.0.2.250"},
        "children": children}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run(["ansible-playbook", "-i", str(inv), str(ROOT / "playbooks" / playbook),
                           "-e", json.dumps(extra_vars)],
                          capture_output=True, text=True, env=env, timeout=300, check=False, cwd=ROOT)
    output = proc.stdout + proc.stderr
    return proc.returncode, output, re.sub(r"\s+", " ", output)


def assert_refused(rc, output):
    assert rc != 0, output[-3000:]
    assert "PLAY [Brokers" not in output, output[-3000:]
    assert re.search(r"changed=[1-9]", output) is None, output[-3000:]


def test_other_os_is_refused_with_the_override_named(tmp_path):
    rc, output, flat = run_preflight(tmp_path, {"__cluster_os": "Ubuntu", "__cluster_os_version": "24", **SYSTEMD})
    assert_refused(rc, output)
    assert re.search(r"broker1 runs Ubuntu 24; this collection supports Debian 12 \(bookworm\) and Debian 13 "
                     r"\(trixie\) only\. To deploy on it anyway, at your own risk, set "
                     r"cluster_allow_unsupported_os: true", flat), output[-3000:]


def test_older_debian_is_refused(tmp_path):
    rc, output, flat = run_preflight(tmp_path, {"__cluster_os_version": "11", **SYSTEMD})
    assert_refused(rc, output)
    assert re.search(r"lb2 runs Debian 11; this collection supports Debian 12", flat), output[-3000:]


def test_other_os_passes_preflight_when_allowed_with_a_warning(tmp_path):
    rc, output, flat = run_preflight(
        tmp_path, {"__cluster_os": "Ubuntu", "__cluster_os_version": "24", "cluster_allow_unsupported_os": True,
                   **SYSTEMD}, playbook="preflight.yml")
    assert rc == 0, output[-3000:]
    assert re.search(r"Warning: bridge1 runs Ubuntu 24, not Debian 12 or 13; deploying on it because "
                     r"cluster_allow_unsupported_os is true", flat), output[-3000:]
    # This machine's root has CAP_NET_ADMIN: the capability check passed on both load balancers (in the order the
    # hosts finished).
    task = re.search(r"TASK \[mosquitto_ha\.cluster\.cluster : Check that the load balancer may add the VIP "
                     r"\(CAP_NET_ADMIN\)\] \*+ ((?:(?:skipping|ok): \[\w+\] )*)", flat)
    assert task, output[-3000:]
    assert sorted(re.findall(r"ok: \[(\w+)\]", task.group(1))) == ["lb1", "lb2"], task.group(1)


def test_host_without_systemd_is_refused(tmp_path):
    rc, output, flat = run_preflight(tmp_path, {"__cluster_service_mgr": "sysvinit"})
    assert_refused(rc, output)
    assert re.search(r"broker2 is managed by sysvinit, not systemd\. The roles run mosquitto, nginx, keepalived "
                     r"and the watchdog as systemd units", flat), output[-3000:]


def test_load_balancer_without_net_admin_is_refused(tmp_path):
    # A container started without NET_ADMIN: docker's default set, 00000000a80425fb, has no bit 12.
    rc, output, flat = run_preflight(tmp_path, {"__cluster_cap_eff": "00000000a80425fb", **SYSTEMD})
    assert_refused(rc, output)
    assert re.search(r"lb1 cannot add the VIP: root there lacks CAP_NET_ADMIN \(effective capabilities "
                     r"00000000a80425fb\), which keepalived needs", flat), output[-3000:]
    assert "broker1 cannot add the VIP" not in flat, output[-3000:]
