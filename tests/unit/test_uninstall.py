"""playbooks/uninstall.yml reads a few role settings (it runs no role); where the inventory does not set them it
reads the roles' own defaults (the role_default filter), so they are the values the roles used when they wrote the
files it removes. tests/unit/roles/test_one_default.py refuses a copied default anywhere."""

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
FROM_ROLE = re.compile(r"\b([a-z][a-z0-9_]*) \| default\('\1' \| mosquitto_ha\.cluster\.role_default\)")


def _role_defaults():
    values = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        values.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return values


def test_settings_fall_back_to_the_role_defaults():
    text = (ROOT / "playbooks" / "uninstall.yml").read_text(encoding="utf-8")
    settings = set(FROM_ROLE.findall(text))
    # The settings whose files or hosts the playbook needs to know.
    assert {"cluster_broker_group", "cluster_bridge_group", "cluster_lb_group", "cluster_pki_dir",
            "broker_persistence_location", "vip_script_user", "bridge_standby_marker_address", "broker_packages",
            "loadbalancer_packages", "vip_packages", "metrics_packages", "metrics_textfile_dir"} <= settings, settings
    defaults = _role_defaults()
    assert all(name in defaults for name in settings), settings - set(defaults)


def test_refusal_comes_before_any_host_play():
    plays = yaml.safe_load((ROOT / "playbooks" / "uninstall.yml").read_text(encoding="utf-8"))
    assert plays[0]["hosts"] == "localhost" and plays[0]["any_errors_fatal"] is True
    assert any("uninstall_confirm" in str(task.get("ansible.builtin.assert", {}).get("that"))
               for task in plays[0]["tasks"])
    assert all(play["hosts"] != "localhost" for play in plays[1:])
    root = yaml.safe_load((ROOT / "uninstall.yml").read_text(encoding="utf-8"))
    assert root[0]["ansible.builtin.import_playbook"] == "playbooks/uninstall.yml"
