"""Every default has one definition: the defaults/main.yml of the role that owns the setting.

Playbooks and roles that need another role's setting where that role is not loaded (group names in a play's
`hosts`, package lists, the load balancers' VRRP router id) read its default with the filter
`mosquitto_ha.cluster.role_default` instead of writing a copy of the value. The argument specs repeat the defaults
for the documentation; they must say the same.
"""

import ast
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
LITERAL = r"('[^']*'|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}|-?[0-9][0-9.]*|true|false|True|False)"
# `name | default(literal)` and `lookup('ansible.builtin.vars', 'name', default=literal)`.
FALLBACKS = [re.compile(r"\b([a-z][a-z0-9_]*)\s*\|\s*default\(\s*" + LITERAL + r"\s*\)"),
             re.compile(r"lookup\(\s*'ansible\.builtin\.vars'\s*,\s*'(\w+)'\s*,\s*default=\s*" + LITERAL + r"\s*\)")]


def _literal(text):
    return {"true": True, "false": False}[text] if text in ("true", "false") else ast.literal_eval(text)


def _templated(value):
    return "{{" in repr(value)


def role_defaults():
    """Setting -> [(role, value)] over every role's defaults/main.yml."""
    found = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            found.setdefault(name, []).append((path.parts[-3], value))
    return found


def copies(text, defaults):
    """(setting, the literal fallback) for every copy of a role default in a playbook, task file or template."""
    found = []
    for pattern in FALLBACKS:
        for match in pattern.finditer(text):
            if match.group(1) in defaults:
                found.append((match.group(1), _literal(match.group(2))))
    return found


def _sources():
    for pattern in ("playbooks/*.yml", "*.yml", "roles/*/*/*.yml", "roles/*/templates/*.j2"):
        yield from sorted(ROOT.glob(pattern))


def test_no_setting_has_two_role_defaults():
    twice = {name: where for name, where in role_defaults().items() if len(where) > 1}
    assert twice == {}, f"defined in more than one role: {twice}"


def test_no_playbook_or_role_copies_a_default():
    defaults = {name: where[0][1] for name, where in role_defaults().items()}
    problems = []
    for path in _sources():
        for name, value in copies(path.read_text(), defaults):
            differs = "" if value == defaults[name] else f", and it differs from the role's {defaults[name]!r}"
            problems.append(f"{path.relative_to(ROOT)}: {name} falls back to a copy {value!r}{differs}; use "
                            f"{name} | default('{name}' | mosquitto_ha.cluster.role_default)")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("spec_path", sorted(ROOT.glob("roles/*/meta/argument_specs.yml")),
                         ids=lambda p: p.parts[-3])
def test_argument_spec_defaults_equal_the_role_defaults(spec_path):
    role = spec_path.parts[-3]
    defaults_path = ROOT / "roles" / role / "defaults" / "main.yml"
    defaults = (yaml.safe_load(defaults_path.read_text()) or {}) if defaults_path.exists() else {}
    problems = []
    for entry in yaml.safe_load(spec_path.read_text())["argument_specs"].values():
        for name, option in (entry.get("options") or {}).items():
            if name not in defaults or "default" not in option or _templated(defaults[name]):
                continue  # a computed default is described in the spec, not copied
            if option["default"] != defaults[name]:
                problems.append(f"{name}: argument spec {option['default']!r}, defaults/main.yml {defaults[name]!r}")
    assert problems == [], "\n".join(problems)


def test_the_role_default_filter_is_used_for_the_group_names_and_packages():
    text = "\n".join(path.read_text() for path in _sources())
    for name in ("cluster_broker_group", "cluster_bridge_group", "cluster_lb_group", "broker_packages",
                 "loadbalancer_packages", "vip_packages", "vip_virtual_router_id"):
        assert f"'{name}' | mosquitto_ha.cluster.role_default" in text, name


def test_the_check_finds_copies_and_different_values():
    defaults = {"cluster_broker_group": "brokers", "vip_packages": ["keepalived"], "vip_virtual_router_id": 51}
    text = ("hosts: \"{{ cluster_broker_group | default('mqtt') }}\"\n"
            "x: \"{{ lookup('ansible.builtin.vars', 'vip_packages', default=['keepalived']) }}\"\n"
            "y: \"{{ (vip_virtual_router_id | default(51) | int) % 255 + 1 }}\"\n"
            "z: \"{{ cluster_broker_group | default('cluster_broker_group' | mosquitto_ha.cluster.role_default) }}\"\n"
            "w: \"{{ other_setting | default('x') }}\"\n")
    assert copies(text, defaults) == [("cluster_broker_group", "mqtt"), ("vip_virtual_router_id", 51),
                                      ("vip_packages", ["keepalived"])]
