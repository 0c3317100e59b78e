"""Each well-known path has one definition: the cluster_path filter (plugins/filter/shared.py).

Roles and playbooks read these files (the watchdog's MQTT password, the bridge master's configuration and state, the
configuration checkers...) through ``'<name>' | mosquitto_ha.cluster.cluster_path``; none spells the path out, so a
path is changed in one place. The systemd restart drop-in and the MQTT login lines are shared the same way.
"""

import importlib.util
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEFINITION = ROOT / "plugins" / "filter" / "shared.py"
_SPEC = importlib.util.spec_from_file_location("shared", DEFINITION)
shared = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(shared)

# Where the roles and playbooks keep their paths: variables, defaults, tasks, handlers, templates, playbooks.
SCANNED = ("roles/*/vars/*.yml", "roles/*/defaults/*.yml", "roles/*/tasks/*.yml", "roles/*/handlers/*.yml",
           "roles/*/templates/*", "playbooks/*.yml", "*.yml", "plugins/filter/*.py", "plugins/modules/*.py",
           "plugins/module_utils/*.py")


def scanned_files(root=ROOT):
    for pattern in SCANNED:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                yield path


def copies(root=ROOT, definition=DEFINITION):
    """{path literal: [files other than its definition that spell it out]} for every well-known path."""
    found = {}
    for path in scanned_files(root):
        if path.resolve() == definition.resolve():
            continue
        text = path.read_text(errors="replace")
        for literal in shared.PATHS.values():
            if literal in text:
                found.setdefault(literal, []).append(str(path.relative_to(root)))
    return found


def test_each_well_known_path_is_spelled_out_once():
    found = copies()
    assert found == {}, "\n".join(f"{literal}: spelled out in {', '.join(files)} (use the cluster_path filter)"
                                  for literal, files in sorted(found.items()))


def test_the_definition_holds_each_path():
    text = DEFINITION.read_text()
    for literal in shared.PATHS.values():
        assert text.count(f'"{literal}"') == 1, literal


def test_the_check_finds_a_planted_copy(tmp_path):
    (tmp_path / "roles" / "metrics" / "vars").mkdir(parents=True)
    (tmp_path / "roles" / "status" / "templates").mkdir(parents=True)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "roles" / "metrics" / "vars" / "main.yml").write_text(
        "__metrics_password_file: /etc/mosquitto-ha/watchdog-mqtt-password\n")
    (tmp_path / "roles" / "status" / "templates" / "x.j2").write_text("cat /run/mosquitto-ha/bridge-state\n")
    (tmp_path / "playbooks" / "ok.yml").write_text("src: \"{{ 'bridge_conf' | mosquitto_ha.cluster.cluster_path }}\"\n")
    found = copies(tmp_path, DEFINITION)
    assert found == {"/etc/mosquitto-ha/watchdog-mqtt-password": ["roles/metrics/vars/main.yml"],
                     "/run/mosquitto-ha/bridge-state": ["roles/status/templates/x.j2"]}


def test_no_role_keeps_a_restart_template():
    """The restart drop-in's text is the restart_dropin filter's; the roles write it with ansible.builtin.copy."""
    assert sorted(ROOT.glob("roles/*/templates/restart.conf.j2")) == []
    writers = []
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            copy = task.get("ansible.builtin.copy") if isinstance(task, dict) else None
            if isinstance(copy, dict) and "mosquitto-ha-restart.conf" in str(copy.get("dest", "")):
                assert "mosquitto_ha.cluster.restart_dropin(cluster_systemd_restart_sec)" in copy["content"], path
                writers.append(path.parts[-3])
    assert sorted(writers) == ["broker", "loadbalancer", "vip", "watchdog"]


def test_status_and_upgrade_log_in_through_one_definition():
    for role in ("status", "upgrade"):
        text = (ROOT / "roles" / role / "vars" / "main.yml").read_text()
        assert "mosquitto_ha.cluster.mqtt_login_sh" in text, role
        assert "mktemp" not in text and "printf -- " not in text, role
