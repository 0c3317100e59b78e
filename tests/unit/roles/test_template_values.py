"""Every variable that reaches a template of the roles, and what hostile values do to the rendered files.

The variables are enumerated from the templates themselves (and from the role variables they read), so a new
variable in a template is covered, or fails test_every_template_variable_has_a_source until its source is named.
For each of them, each hostile value is either refused before any host changes (by the argument spec's type or
choices, or by the settings filter the preflight runs), or rendered into every template without changing the
files' structure: the same lines, each starting with the same directive, and the same braces and semicolons.
"""

import functools
import importlib.util
import json
import pathlib
import re

import jinja2
import jinja2.meta
import pytest
import yaml
from ansible.module_utils.common.validation import check_type_float, check_type_int

ROOT = pathlib.Path(__file__).resolve().parents[3]
_SPEC = importlib.util.spec_from_file_location("settings", ROOT / "plugins" / "filter" / "settings.py")
settings = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(settings)

TEMPLATES = sorted(ROOT.glob("roles/*/templates/*.j2"))
MAGIC = {"ansible_managed", "inventory_hostname", "item", "groups", "hostvars", "ansible_facts"}

# Role variables (vars/main.yml) the templates read, and the settings they are made of.
INTERNAL_SOURCES = {
    "__bridge_connections": ["cluster_broker_group", "cluster_broker_port", "cluster_address"],
    "__bridge_ca_file": ["cluster_pki_dir"], "__bridge_cert_file": ["cluster_pki_dir"],
    "__bridge_key_file": ["cluster_pki_dir"],
    "__broker_ca_file": ["cluster_pki_dir"], "__broker_cert_file": ["cluster_pki_dir"],
    "__broker_key_file": ["cluster_pki_dir"], "__broker_password_file": [], "__broker_acl_file": [],
    "__broker_conf_dir": [],
    "__broker_bridge_users": ["cluster_bridge_username", "cluster_bridge_group"],
    "__bridge_vrrp_peers": ["cluster_address", "bridge_standby_priority"],
    "__bridge_notify_script": [], "__bridge_check_script": [], "__bridge_state_file": [],
    "__loadbalancer_upstreams": ["cluster_broker_group", "cluster_broker_port", "cluster_address"],
    "__loadbalancer_listen": ["loadbalancer_listen_address", "loadbalancer_port"],
    "__vip_peers": ["cluster_address", "vip_priority"],
    "__vip_check_script": [], "__vip_notify_script": [],
    "__watchdog_all_services": ["watchdog_services", "watchdog_extra_services"],
    "__watchdog_script": [], "__watchdog_config": [],
    "__metrics_script": [], "__metrics_config": [],
    "__watchdog_reads_keys": ["watchdog_services", "watchdog_extra_services"],
    "__watchdog_probes_local_only": ["watchdog_services", "watchdog_extra_services"],
}

HOSTILE = ["x\ny", "x\rz", "x;y", "x}", "x{", "x#y", "#x", "x!y", 'x"y', "x'y", "x y", "x\x00", " x",
           "true ", "x\\", "$x", "1\n2", "1;"]


def _env():
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update({
        "comment": lambda s: "# " + str(s),
        "ternary": lambda v, a, b: a if v else b,
        "mosquitto_ha.cluster.strict_bool": settings.strict_bool,
        "regex_replace": lambda s, p, r: re.sub(p, r, str(s)),
        "to_json": json.dumps,
    })
    env.tests["equalto"] = lambda a, b: a == b
    return env


ENV = _env()


def template_variables():
    names = set()
    for path in TEMPLATES:
        names |= jinja2.meta.find_undeclared_variables(ENV.parse(path.read_text()))
    return names - MAGIC


@functools.lru_cache(maxsize=None)
def _defaults_cached():
    values = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        values.update(yaml.safe_load(path.read_text()) or {})
    return json.dumps(values)


def _defaults():
    return json.loads(_defaults_cached())


def _specs():
    return settings._specs()


def reaching_settings():
    """Every setting whose value reaches a rendered file."""
    names = set()
    for name in template_variables():
        names |= set(INTERNAL_SOURCES[name]) if name.startswith("__") else {name}
    return sorted(names)


def context(overrides):
    """The template variables for one host, from the defaults, the overrides and the internal derivations."""
    v = {k: val for k, val in _defaults().items() if not (isinstance(val, str) and "{{" in val)}
    v.update({"cluster_vip": "192.0.2.250", "cluster_bridge_username": "bridge1", "cluster_bridge_password": "pw",
              "cluster_watchdog_password": "pw", "vip_auth_pass": "Pass1234", "vip_interface": "eth0",
              "loadbalancer_listen_address": "192.0.2.250", "loadbalancer_port": 8883,
              "watchdog_services": [{"unit": "mosquitto.service"}], "cluster_address": "192.0.2.10",
              "vip_priority": 150, "bridge_standby_priority": 150,
              "bridge_standby_router_id": 52, "bridge_standby_interface": "eth0",
              "cluster_systemd_restart_sec": 1})
    v.update(overrides)
    address, port = v["cluster_address"], v["cluster_broker_port"]
    v.update({
        "ansible_managed": "managed", "inventory_hostname": "host1",
        "__bridge_connections": [{"host": "broker1", "name": "bridge-broker1", "address": address, "port": port,
                                  "local_clientid": "bridge1.bridge-broker1", "remote_clientid": "bridge1.bridge-broker1"}],
        "__bridge_ca_file": v["cluster_pki_dir"] + "/ca.crt", "__bridge_cert_file": v["cluster_pki_dir"] + "/h.crt",
        "__bridge_key_file": v["cluster_pki_dir"] + "/h.key", "__broker_ca_file": v["cluster_pki_dir"] + "/ca.crt",
        "__broker_cert_file": v["cluster_pki_dir"] + "/h.crt", "__broker_key_file": v["cluster_pki_dir"] + "/h.key",
        "__broker_password_file": "/etc/mosquitto/passwd", "__broker_acl_file": "/etc/mosquitto/acl",
        "__broker_conf_dir": "/etc/mosquitto/conf.d",
        "__broker_bridge_users": [v["cluster_bridge_username"]],
        "__bridge_vrrp_peers": {"priority": v["bridge_standby_priority"], "address": address, "peers": ["192.0.2.22"]},
        "__bridge_notify_script": "/usr/local/libexec/bridge-notify",
        "__bridge_check_script": "/usr/local/libexec/check-bridge", "__bridge_state_file": "/run/bridge-state",
        "__loadbalancer_upstreams": [{"name": "broker1", "address": address, "port": port}],
        "__loadbalancer_listen": ((str(v["loadbalancer_listen_address"]) + ":") if v["loadbalancer_listen_address"]
                                  else "") + str(v["loadbalancer_port"]),
        "__vip_peers": {"priority": v["vip_priority"], "address": address, "peers": ["192.0.2.14"]},
        "__vip_check_script": "/usr/local/libexec/check", "__vip_notify_script": "/usr/local/libexec/notify",
        "__watchdog_all_services": v["watchdog_services"] + v["watchdog_extra_services"],
        "__watchdog_script": "/usr/local/libexec/wd", "__watchdog_config": "/etc/wd.json",
        "__watchdog_reads_keys": True, "__watchdog_probes_local_only": True,
        "__metrics_script": "/usr/local/libexec/metrics", "__metrics_config": "/etc/metrics.json",
    })
    v["item"] = v["__watchdog_all_services"][0]
    return v


# Characters that open or close a block or end a directive in nginx and keepalived files (mosquitto and systemd
# files are line-based: there, the lines and their directives are the structure).
BLOCK_SYNTAX = {"nginx.conf.j2": "{};#'\"", "keepalived.conf.j2": "{}!#'\"", "check-nginx.j2": ";&|`$'\"",
                "keepalived-notify.j2": ";&|`$'\"", "keepalived-bridge.conf.j2": "{}!#'\"",
                "bridge-notify.j2": ";&|`$'\"", "check-bridge.j2": ";&|`$'\""}


def structure(name, text):
    """Directive of every line, and the count of characters that open, close or end a directive."""
    directives = [ln.split()[0] if ln.split() else "" for ln in text.splitlines()]
    return directives, {c: text.count(c) for c in BLOCK_SYNTAX.get(name, "")}


COMPILED = {path.name: ENV.from_string(path.read_text()) for path in TEMPLATES}


def render_all(overrides):
    ctx = context(overrides)
    return {name: structure(name, template.render(**ctx)) for name, template in COMPILED.items()}


def hostile_shapes(name, hostile):
    """The hostile string placed where the setting holds strings."""
    spec = _specs().get(name, {})
    if name == "broker_acl":
        return [[{"username": "u1", "access": "read", "topic": hostile}],
                [{"username": hostile, "access": "read", "topic": "t"}],
                [{"username": "u1", "access": hostile, "topic": "t"}]]
    if name in ("broker_acl_patterns", "broker_acl_anonymous"):
        return [[{"access": "read", "topic": hostile}], [{"access": hostile, "topic": "t"}]]
    if name in ("watchdog_services", "watchdog_extra_services"):
        return [[{"unit": hostile}]]
    if spec.get("type") == "list":
        return [[hostile]]
    return [hostile]


def refused(name, value):
    """Whether the preflight refuses the value: the argument spec's type and choices, then the settings filter."""
    spec = _specs().get(name, {})
    kind = spec.get("type")
    try:
        if kind == "int":
            check_type_int(value)
        elif kind == "float":
            check_type_float(value)
    except TypeError:
        return True
    if "choices" in spec and value not in spec["choices"]:
        return True
    return bool(settings.setting_problems({name: value}, "host1"))


def test_every_template_variable_has_a_source():
    unknown = sorted(n for n in template_variables() if n.startswith("__") and n not in INTERNAL_SOURCES)
    assert unknown == [], "map these role variables to the settings they derive from in INTERNAL_SOURCES"
    defined = set(_defaults()) | set(_specs()) | {"cluster_address", "vip_priority", "bridge_standby_priority"}
    assert sorted(set(reaching_settings()) - defined) == []


def test_the_baseline_renders():
    rendered = render_all({})
    assert rendered["nginx.conf.j2"][1]["{"] == rendered["nginx.conf.j2"][1]["}"]


# broker_extra_config adds lines by design; its directives are checked one by one (tests/unit/plugins/filter).
MULTI_LINE = {"broker_extra_config"}


@pytest.mark.parametrize("name", sorted(set(reaching_settings()) - MULTI_LINE))
def test_hostile_values_are_refused_or_harmless(name):
    for hostile in HOSTILE:
        for value, safe in zip(hostile_shapes(name, hostile), hostile_shapes(name, "x")):
            if refused(name, value):
                continue
            baseline = render_all({name: safe})
            assert render_all({name: value}) == baseline, (
                f"{name}={value!r} passes the preflight but changes the structure of a rendered file")


def test_the_family_is_not_empty():
    names = reaching_settings()
    for expected in ("broker_extra_config", "loadbalancer_hash_key", "vip_auth_pass", "cluster_bridge_username",
                     "broker_log_types", "bridge_topic", "cluster_name"):
        assert expected in names
