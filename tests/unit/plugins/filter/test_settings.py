"""Unit tests for plugins/filter/settings.py: the boolean parser and the value checks."""

import importlib.util
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

_PATH = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "filter" / "settings.py"
_SPEC = importlib.util.spec_from_file_location("settings", _PATH)
settings = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(settings)


@pytest.mark.parametrize("value,expected", [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("True", True), ("yes", True),
    ("on", True), ("1", True), ("false", False), ("False", False), ("no", False), ("off", False), ("0", False),
])
def test_strict_bool_reads_canonical_values(value, expected):
    assert settings.strict_bool(value) is expected


@pytest.mark.parametrize("value", ["true ", " false", "TRUE ", "yes please", "", "2", 2, -1, None, [], "y", "t"])
def test_strict_bool_refuses_everything_else(value):
    with pytest.raises(AnsibleFilterError, match="must be a boolean"):
        settings.strict_bool(value)


def problems(**values):
    return settings.setting_problems(values, "h1")


def test_safe_values_pass():
    assert problems(
        cluster_name="mqtt ha.prod-1", cluster_dns_name="mqtt.example.org", vip_auth_pass="Ab3$x%9~",
        loadbalancer_hash_key="$remote_addr", loadbalancer_fail_timeout="1m30s", loadbalancer_worker_processes="auto",
        broker_persistent_client_expiration="", broker_log_types=["error", "notice"], bridge_topic="#",
        broker_certificate_users=["device-1.example"], broker_require_certificate="True", vip_preempt=False,
        broker_users=[{"username": "a+b@c", "password": "pass with inner blanks"}],
        broker_acl=[{"username": "a+b@c", "access": "read", "topic": "+/x/#"}],
        broker_acl_patterns=[{"access": "readwrite", "topic": "c/%c/u/%u/#"}],
        broker_extra_config="# note\nmax_packet_size 10000\nallow_anonymous false\n",
        pki_extra_sans=["DNS:*.example.org", "IP:10.0.0.1", "IP:fd00::1"],
        watchdog_extra_services=[{"unit": "ssh.service"}, {"unit": "getty@tty1.service"}],
        ansible_host="10.0.0.5", inventory_hostname="broker-1.example",
    ) == []


@pytest.mark.parametrize("name,value,fragment", [
    ("broker_certificate_users", ["alice\npattern readwrite #"], "holds a line break"),
    ("cluster_bridge_username", "a b", "holds a blank or ':'"),
    ("cluster_bridge_username", "#a", "starts with '#'"),
    ("loadbalancer_hash_key", "$remote_addr; server x", "no blank, ';'"),
    ("loadbalancer_fail_timeout", "10s;", "nginx time"),
    ("loadbalancer_worker_processes", "auto; user root", "auto or a number"),
    ("vip_auth_pass", "ab!c#d", "1 to 8 characters"),
    ("vip_auth_pass", "ab cd", "1 to 8 characters"),
    ("vip_auth_pass", "abc'd", "1 to 8 characters"),
    ("vip_auth_pass", "", "1 to 8 characters"),
    ("broker_require_certificate", "true ", "must be a boolean"),
    ("bridge_topic", "a/#/b", "'#' other than as the whole last level"),
    ("bridge_topic", "a/b+", "'+' other than as a whole level"),
    ("bridge_topic", "a\x00b", "line break or control character"),
    ("cluster_dns_name", "mqtt.example.org:8883", "must be a DNS name"),
    ("cluster_dns_name", "-bad.example", "must be a DNS name"),
    ("ansible_host", "host name", "IP address or a host name"),
    ("inventory_hostname", "broker 1", "letters, digits"),
    ("cluster_local_dir", "relative/dir", "absolute controller path"),
    ("cluster_vip", 5, "virtual IPv4 address"),
    ("cluster_vip", "10.0.0.1\n", "line break"),
    ("cluster_address", "10.0.0.300", "IPv4 address"),
    ("watchdog_services", [{"unit": "a/b.service"}], "systemd unit name"),
    ("cluster_systemd_restart_sec", "1\nExecStart=x", "line break"),
    ("watchdog_systemd_restart_sec", "1\nExecStart=x", "line break"),
    ("cluster_systemd_restart", "yes please", "must be a boolean"),
    ("watchdog_systemd_restart", "true ", "must be a boolean"),
    ("broker_persistent_client_expiration", "14 d", "number and a unit"),
    ("pki_extra_sans", ["DNS:a b"], "'DNS:name' or 'IP:address'"),
    ("broker_log_types", ["all", "verbose"], "refused: ['verbose']"),
])
def test_unsafe_values_are_refused_with_the_setting_and_host(name, value, fragment):
    found = problems(**{name: value})
    assert len(found) == 1, found
    assert found[0].startswith(name) or f"{name}[" in found[0] or name in found[0]
    assert "h1" in found[0]
    assert fragment in found[0]


@pytest.mark.parametrize("directive", ["listener 1883", "allow_anonymous true", "password_file /x", "acl_file /x",
                                       "  include_dir /tmp", "plugin /x.so", "plugin_opt_x y", "auth_opt_db z",
                                       "require_certificate false", "port 1883", "cafile /x"])
def test_extra_config_refuses_managed_directives(directive):
    found = problems(broker_extra_config=f"max_packet_size 10\n{directive}")
    assert len(found) == 1 and "broker_extra_config sets" in found[0], found


def test_extra_config_opt_in():
    assert problems(broker_extra_config="listener 1884 127.0.0.1", broker_extra_config_unchecked=True) == []
    assert problems(broker_extra_config="listener 1884\x07", broker_extra_config_unchecked="true")


def test_secret_values_are_never_repeated():
    secret = "S3cr3t!#value"
    for found in (problems(vip_auth_pass=secret), problems(cluster_bridge_password=secret + "\n"),
                  problems(broker_users=[{"username": "u", "password": secret + "\n"}]),
                  problems(pki_ca_key_passphrase=secret + "\n")):
        assert found and all(secret not in p for p in found), found


@pytest.mark.parametrize("topic,ok", [("#", True), ("a/+/b", True), ("+", True), ("a/#", True), ("$SYS/#", True),
                                      ("a#", False), ("#/a", False), ("a/+b", False), ("", False), ("a b", False)])
def test_topic_filters(topic, ok):
    assert (settings.topic_filter_problem(topic) is None) is ok


def test_role_default_reads_the_one_definition():
    assert settings.role_default("cluster_broker_group") == "brokers"
    assert settings.role_default("cluster_lb_group") == "loadbalancers"
    assert settings.role_default("vip_virtual_router_id") == 51
    assert settings.role_default("broker_packages") == ["mosquitto", "mosquitto-clients"]


@pytest.mark.parametrize("name, fragment", [
    ("cluster_brokers_group", "no role of mosquitto_ha.cluster defines"),
    ("bridge_standby_router_id", "computed from other settings"),
])
def test_role_default_refuses_unknown_and_computed_defaults(name, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        settings.role_default(name)


def test_unknown_settings_suggest_the_nearest_name():
    found = settings.unknown_settings(["broker_user", "cluster_vip", "vip_auth_pss", "ansible_host", "mything",
                                       "pki_zzzzzzzzzzzzzz"])
    assert found == [{"name": "broker_user", "suggestion": "broker_users"},
                     {"name": "pki_zzzzzzzzzzzzzz", "suggestion": ""},
                     {"name": "vip_auth_pss", "suggestion": "vip_auth_pass"}]


def test_every_spec_option_is_a_known_setting():
    assert set(settings._specs()) <= set(settings.known_settings())


def test_shared_addresses_and_vip_problem():
    hostvars = {"a": {"ansible_host": "10.0.0.5", "cluster_address": "10.0.0.5"},
                "b": {"ansible_host": "10.0.0.5", "cluster_address": "10.0.0.6"},
                "c": {"cluster_address": "10.0.0.7"}}
    assert settings.shared_addresses(["a", "b", "c"], hostvars) == {"10.0.0.5": ["a", "b"]}
    assert "network address" in settings.vip_problem("10.0.0.0", 24)
    assert "broadcast address" in settings.vip_problem("10.0.0.255", 24)
    assert settings.vip_problem("10.0.0.254", 24) == ""
    assert settings.vip_problem("10.0.0.1", 31) == ""


class _LazyHostvars(dict):
    """hostvars as Ansible gives them: a value is templated when it is read, and may fail then."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, Exception):
            raise value
        return value


def test_a_value_that_cannot_be_resolved_on_the_controller_is_refused_not_skipped():
    secret = "do-not-print-me"
    hostvars = {"broker1": _LazyHostvars(
        broker_users=RuntimeError("'cluster_local_dir' is undefined\nOrigin: group_vars/all.yml"),
        cluster_name="ok", cluster_bridge_password=secret)}
    problems = settings.host_problems(["broker1"], hostvars)
    assert len(problems) == 1, problems
    assert problems[0].startswith("broker_users on broker1 cannot be worked out on the controller")
    assert "'cluster_local_dir' is undefined" in problems[0] and "Origin" not in problems[0]
    assert secret not in problems[0]
