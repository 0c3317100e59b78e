"""playbooks/uninstall.yml reads a few role settings with the roles' defaults as fallbacks (it runs no role); they
must stay equal to the defaults the roles use when they write the files it removes."""

import ast
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
FALLBACK = re.compile(r"\b([a-z][a-z0-9_]*) \| default\(('[^']*'|\[[^\]]*\])\)")


def _role_defaults():
    values = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        values.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return values


def test_fallbacks_equal_the_role_defaults():
    text = (ROOT / "playbooks" / "uninstall.yml").read_text(encoding="utf-8")
    fallbacks = {name: ast.literal_eval(value) for name, value in FALLBACK.findall(text)}
    defaults = _role_defaults()
    prefixes = ("cluster_", "broker_", "bridge_", "loadbalancer_", "vip_", "watchdog_", "pki_", "metrics_")
    settings = {name: value for name, value in fallbacks.items() if name.startswith(prefixes)}
    # The settings whose files or hosts the playbook needs to know.
    assert {"cluster_broker_group", "cluster_bridge_group", "cluster_lb_group", "cluster_pki_dir",
            "broker_persistence_location", "vip_script_user", "bridge_standby_marker_address", "broker_packages",
            "loadbalancer_packages", "vip_packages",
            "metrics_packages", "metrics_textfile_dir"} <= set(settings), settings
    for name, value in settings.items():
        assert name in defaults, f"{name} is no role default"
        assert defaults[name] == value, f"{name}: uninstall.yml falls back to {value!r}, the role to {defaults[name]!r}"


def test_refusal_comes_before_any_host_play():
    plays = yaml.safe_load((ROOT / "playbooks" / "uninstall.yml").read_text(encoding="utf-8"))
    assert plays[0]["hosts"] == "localhost" and plays[0]["any_errors_fatal"] is True
    assert any("uninstall_confirm" in str(task.get("ansible.builtin.assert", {}).get("that"))
               for task in plays[0]["tasks"])
    assert all(play["hosts"] != "localhost" for play in plays[1:])
    root = yaml.safe_load((ROOT / "uninstall.yml").read_text(encoding="utf-8"))
    assert root[0]["ansible.builtin.import_playbook"] == "playbooks/uninstall.yml"
