"""Load balancers have no host key or certificate: nginx passes TLS through to the brokers and uses neither.

The loadbalancer role includes the pki role with pki_host_certificate false; the pki role then creates, signs and
installs no key or certificate and removes the ones an older version wrote; the status role does not look for one.
The molecule scenario default checks the hosts themselves (test_hosts.py, test_renewal.py).
"""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _load(path):
    return yaml.safe_load((ROOT / path).read_text())


def _walk(tasks, inherited=()):
    """Every task with the `when` conditions of the blocks around it and its own."""
    for task in tasks or []:
        when = task.get("when", [])
        conditions = tuple(inherited) + tuple(when if isinstance(when, list) else [when])
        yield task, conditions
        for key in ("block", "rescue", "always"):
            yield from _walk(task.get(key), conditions)


def _pki_includes(role):
    found = []
    for task, _conditions in _walk(_load(f"roles/{role}/tasks/main.yml")):
        include = task.get("ansible.builtin.include_role") or {}
        if include.get("name") == "mosquitto_ha.cluster.pki":
            found.append(task.get("vars", {}))
    return found


def test_the_loadbalancer_role_asks_for_no_host_certificate():
    assert _pki_includes("loadbalancer") == [{"pki_host_certificate": False}]


def test_the_broker_role_keeps_its_host_certificate():
    includes = _pki_includes("broker")
    assert includes and all(v.get("pki_host_certificate", True) is True for v in includes)
    assert _load("roles/pki/defaults/main.yml")["pki_host_certificate"] is True


def _guarded(conditions):
    return any("pki_host_certificate" in str(c) and not str(c).startswith("not ") for c in conditions)


def test_the_pki_role_writes_a_host_key_or_certificate_only_when_asked():
    writers = []
    for task, conditions in _walk(_load("roles/pki/tasks/host.yml")):
        module = next((k for k in task if k.startswith(("community.crypto.openssl_privatekey",
                                                        "ansible.builtin.copy"))), None)
        if module is None:
            continue
        dest = str(task[module].get("dest", task[module].get("path", "")))
        if "__pki_files.key" in dest or "__pki_files.cert" in dest:
            writers.append(task["name"])
            assert _guarded(conditions), f"'{task['name']}' runs whatever pki_host_certificate says"
    assert len(writers) == 2, writers


def test_the_pki_role_removes_an_unused_host_key_and_certificate():
    removals = [task for task, conditions in _walk(_load("roles/pki/tasks/host.yml"))
                if task.get("ansible.builtin.file", {}).get("state") == "absent"
                and any(str(c).startswith("not (pki_host_certificate") for c in conditions)]
    assert len(removals) == 1, removals
    assert sorted(removals[0]["loop"]) == ["{{ __pki_files.cert }}", "{{ __pki_files.key }}"]


def test_no_vip_names_for_load_balancers_and_no_host_certificate_in_their_status():
    assert "cluster_lb_group" not in _load("roles/pki/vars/main.yml")["__pki_on_vip"]
    reading = next(t for t, _c in _walk(_load("roles/status/tasks/main.yml"))
                   if "community.crypto.x509_certificate_info" in t)
    assert "__status_cert" in reading["loop"] and "__status_is_mosquitto" in reading["loop"]
