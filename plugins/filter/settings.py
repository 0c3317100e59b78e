# Copyright: mosquitto-ha maintainers
# MIT License (see LICENSE)
"""The one check of every setting that reaches a configuration file, and the one boolean parser."""

from __future__ import annotations

import difflib
import functools
import ipaddress
import pathlib
import re

import yaml
from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: settings
short_description: Check the values of the cluster's settings against what the configuration syntax allows
version_added: 0.2.0
description:
  - This plugin file provides the filters C(strict_bool), C(setting_problems), C(host_problems),
    C(known_settings), C(unknown_settings), C(host_unknown_settings), C(shared_addresses), C(vip_problem) and
    C(role_default).
  - C(strict_bool) is the one boolean parser of the collection, used by the templates and by the preflight;
    it takes a real boolean, C(0)/C(1), or exactly one of C(true), C(false), C(yes), C(no), C(on), C(off)
    (lower case, or C(True)/C(False)); anything else (a trailing blank, another word) is an error.
  - C(setting_problems) takes a mapping of setting names to values and returns one message per problem,
    naming the setting, the host and the fix. It knows every setting that the roles render into
    mosquitto, nginx, keepalived, systemd or certificate files, and refuses control characters anywhere,
    strings that would end a directive or open a block in that syntax, invalid MQTT topic filters, user
    names mosquitto's password or ACL files cannot hold, and VRRP passwords keepalived would cut short.
    Messages never repeat the value of a secret.
  - C(known_settings) lists every setting name the roles define (their argument specs and defaults), and
    C(unknown_settings) returns, for names with a collection prefix that no role defines, the nearest known name.
  - C(host_problems) and C(host_unknown_settings) apply these to the variables of every host in a list
    (input the host names, argument C(hostvars)).
  - C(shared_addresses) maps each address that more than one of the hosts resolves to (C(ansible_host) or the
    cluster address) to those hosts; C(vip_problem) says why a VIP is its subnet's network or broadcast address.
  - C(role_default) returns the default of a setting as the role that defines it has it (its C(defaults/main.yml)),
    so that playbooks and other roles that need it when the role is not loaded (group names in a play's C(hosts),
    package lists, the VRRP router id) use that one definition instead of a copy. It refuses a name no role
    defines and a default that is a template (computed from other settings).
options:
  _input:
    description: For C(setting_problems), a mapping of setting name to value; for C(strict_bool), the value;
      for C(unknown_settings), a list of variable names.
    type: raw
    required: true
  host:
    description: Inventory name of the host the values belong to (for the messages).
    type: str
author:
  - mosquitto-ha maintainers
"""

EXAMPLES = r"""
- name: Render a boolean
  ansible.builtin.debug:
    msg: >-
      require_certificate
      {{ broker_require_certificate | mosquitto_ha.cluster.strict_bool | ternary('true', 'false') }}

- name: Refuse values that would rewrite a configuration file
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
  vars:
    __problems: "{{ {'loadbalancer_fail_timeout': '10s; server 10.9.9.9:1883'}
                    | mosquitto_ha.cluster.setting_problems(inventory_hostname) }}"

- name: A play over the brokers, whatever the group is called
  ansible.builtin.debug:
    msg: "{{ cluster_broker_group | default('cluster_broker_group' | mosquitto_ha.cluster.role_default) }}"
  # -> brokers, unless cluster_broker_group is set

- name: Settings with the collection's prefixes that no role defines
  ansible.builtin.debug:
    msg: "{{ ['broker_user', 'cluster_vip'] | mosquitto_ha.cluster.unknown_settings }}"
  # -> [{"name": "broker_user", "suggestion": "broker_users"}]
"""

RETURN = r"""
_value:
  description:
    - C(strict_bool) a boolean; C(setting_problems) a list of messages (empty when every value is safe);
      C(known_settings) a sorted list of names; C(unknown_settings) a list of C({name, suggestion});
      C(role_default) the default value of the setting (a string, number, boolean, list or mapping).
  type: raw
"""

TRUE_STRINGS = frozenset({"true", "True", "yes", "on", "1"})
FALSE_STRINGS = frozenset({"false", "False", "no", "off", "0"})

PREFIXES = ("cluster_", "broker_", "bridge_", "loadbalancer_", "vip_", "watchdog_", "pki_")

# Deprecated names that still set the named setting (checked as it is).
DEPRECATED = {
    "watchdog_systemd_restart": "cluster_systemd_restart",
    "watchdog_systemd_restart_sec": "cluster_systemd_restart_sec",
}

# Settings read by the playbooks or set per host that are no role option.
EXTRA_KNOWN = frozenset({
    "cluster_address", "cluster_broker_serial", "vip_priority",
}) | frozenset(DEPRECATED)

ROLES = ("cluster", "pki", "broker", "bridge", "loadbalancer", "vip", "watchdog", "metrics")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_INVENTORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NGINX_TIME = re.compile(r"^([0-9]+(ms|s|m|h|d|w|M|y)?)+$")
_MOSQ_DURATION = re.compile(r"^([0-9]+[hdwmy])?$")
_SYSTEM_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+\.(service|socket|timer|target|mount|path)$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")
# keepalived reads '!' and '#' as comments, splits at blanks and handles quotes and braces itself.
_VRRP_PASS = re.compile(r"^[A-Za-z0-9$%&()*+,./:;<=>?@\[\]^_`|~-]{1,8}$")
_NGINX_HASH_KEY = re.compile(r"^[$A-Za-z0-9_.:-]+$")
# Entries of OpenSSL cipher lists (TLS 1.2: cipher names and words with the operators + ! - @, @STRENGTH,
# @SECLEVEL=n, separators : and ,) and of TLS 1.3 cipher suite lists (names, separator :). No blank, quote or '#':
# mosquitto would read them into the value or as a comment. The roles join the entries with ':'.
_CIPHER = re.compile(r"^[A-Za-z0-9:,+!@=_.-]{1,1024}$")
_CIPHERSUITE = re.compile(r"^[A-Za-z0-9_:]{1,1024}$")
_LOG_TYPES = frozenset({"debug", "error", "warning", "notice", "information", "subscribe", "unsubscribe",
                        "websockets", "none", "all"})

# mosquitto.conf directives that broker_extra_config may not set unless broker_extra_config_unchecked is
# true: they open listeners, replace authentication or access control, or swap the TLS material.
EXTRA_CONFIG_FORBIDDEN = frozenset({
    "listener", "port", "bind_address", "bind_interface", "socket_domain", "protocol", "mount_point",
    "allow_anonymous", "password_file", "acl_file", "psk_file", "psk_hint", "plugin", "auth_plugin",
    "plugin_opt", "auth_opt", "include_dir", "per_listener_settings", "user", "pid_file",
    "cafile", "capath", "certfile", "keyfile", "crlfile", "require_certificate", "use_identity_as_username",
    "use_subject_as_username", "use_username_as_clientid", "tls_version", "ciphers", "ciphers_tls1.3",
    "connection", "address", "addresses", "http_dir", "websockets_log_level",
})


def strict_bool(value, name="value"):
    """The collection's boolean parser: real booleans, 0/1, or exact canonical strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value in TRUE_STRINGS:
            return True
        if value in FALSE_STRINGS:
            return False
    raise AnsibleFilterError(
        f"{name} must be a boolean (true or false, without quotes or blanks); got {value!r}")


def _is_bool(value):
    try:
        strict_bool(value)
    except AnsibleFilterError:
        return False
    return True


def _collection_root():
    return pathlib.Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=None)
def _specs():
    """Options of every role's argument spec, by name."""
    options = {}
    for role in ROLES:
        path = _collection_root() / "roles" / role / "meta" / "argument_specs.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, spec in data["argument_specs"]["main"]["options"].items():
            options[name] = spec
    return options


def known_settings(_unused=None):
    """Every setting name the roles define: argument specs, defaults, and the few per-host settings."""
    return list(_known())


@functools.lru_cache(maxsize=None)
def _known():
    names = set(_specs()) | EXTRA_KNOWN
    for role in ROLES:
        path = _collection_root() / "roles" / role / "defaults" / "main.yml"
        names |= set((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).keys())
    return tuple(sorted(names))


@functools.lru_cache(maxsize=None)
def _role_defaults():
    """Every role's defaults/main.yml: setting name -> (role, value)."""
    found = {}
    for role in ROLES:
        path = _collection_root() / "roles" / role / "defaults" / "main.yml"
        for name, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            found[name] = (role, value)
    return found


def role_default(name):
    """The default of a setting, from the defaults/main.yml of the role that defines it (its one definition)."""
    if name not in _role_defaults():
        raise AnsibleFilterError(f"role_default: no role of mosquitto_ha.cluster defines a default for {name!r}")
    role, value = _role_defaults()[name]
    if "{{" in repr(value):
        raise AnsibleFilterError(f"role_default: the default of {name} (role {role}) is computed from other settings; "
                                 "it can only be read where the role is loaded")
    return value


def unknown_settings(names):
    """Names with a collection prefix that no role defines, each with the nearest known name."""
    known = known_settings()
    result = []
    for name in sorted(set(names)):
        if not isinstance(name, str) or not name.startswith(PREFIXES) or name in known:
            continue
        nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        result.append({"name": name, "suggestion": nearest[0] if nearest else ""})
    return result


def _valid_hostname(value):
    if not isinstance(value, str) or not 0 < len(value) <= 253:
        return False
    return all(_HOSTNAME_LABEL.fullmatch(label) for label in value.rstrip(".").split("."))


def _is_ip(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def topic_filter_problem(topic, allow_substitution=False):
    """Why a string is not a valid MQTT topic filter for the ACL or bridge files, or None."""
    if not isinstance(topic, str) or topic == "":
        return "is empty or not a string"
    if _CONTROL.search(topic):
        return "holds a line break or control character"
    if re.search(r"\s", topic):
        return "holds a blank (the configuration line would end there)"
    if len(topic.encode("utf-8")) > 65535:
        return "is longer than 65535 bytes"
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "uses '#' other than as the whole last level"
        if "+" in level and level != "+":
            return "uses '+' other than as a whole level"
    if not allow_substitution and re.search(r"%[uc]", topic):
        return "uses %u or %c, which only broker_acl_patterns substitute"
    return None


def username_problem(name):
    if not isinstance(name, str) or name == "":
        return "is empty or not a string"
    if _CONTROL.search(name):
        return "holds a line break or control character"
    if re.search(r"\s", name) or ":" in name:
        return "holds a blank or ':' (the password and ACL files cannot hold it)"
    if name.startswith("#"):
        return "starts with '#' (a comment in the ACL file)"
    if len(name.encode("utf-8")) > 65535:
        return "is longer than 65535 bytes"
    return None


def password_problem(password):
    if not isinstance(password, str) or password == "":
        return "is empty or not a string"
    if _CONTROL.search(password):
        return "holds a line break or control character"
    if password != password.strip():
        return "starts or ends with a blank (mosquitto would cut it off)"
    return None


def extra_config_problems(text, name="broker_extra_config"):
    problems = []
    if not isinstance(text, str):
        return [f"{name} must be a string of mosquitto.conf lines"]
    if _CONTROL_BUT_NEWLINE.search(text):
        problems.append(f"{name} holds a control character other than a line break")
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        directive = words[0]
        base = "plugin_opt" if directive.startswith("plugin_opt_") else (
            "auth_opt" if directive.startswith("auth_opt_") else directive)
        if base == "allow_anonymous" and not (len(words) == 2 and words[1] == "false"):
            problems.append(f"{name} sets '{directive}': use broker_allow_anonymous (a public anonymous "
                            "listener is refused), or set broker_extra_config_unchecked: true")
        elif base in EXTRA_CONFIG_FORBIDDEN and base != "allow_anonymous":
            problems.append(f"{name} sets '{directive}', which the roles manage (listeners, authentication, "
                            "access control, TLS): use the role's setting, or set "
                            "broker_extra_config_unchecked: true to take the responsibility")
    return problems


def _token(pattern, what):
    def check(value):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            return f"must be {what}"
        return None if pattern.fullmatch(str(value)) else f"must be {what}"
    return check


def _optional(check):
    def inner(value):
        return None if value in ("", None) else check(value)
    return inner


def _address_or_hostname(value):
    if isinstance(value, str) and (_is_ip(value) or _valid_hostname(value)):
        return None
    return "must be an IP address or a host name (letters, digits, '-' and '.'; no blank, no ':port')"


def _ipv4(value):
    if not isinstance(value, str):
        return "must be an IPv4 address"
    try:
        ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        return "must be an IPv4 address"
    return None


def _list_of(check, what):
    def inner(value):
        if not isinstance(value, list):
            return f"must be a list of {what}"
        bad = [item for item in value if check(item)]
        return f"must be a list of {what}; refused: {bad!r}" if bad else None
    return inner


def _nonempty_list(value):
    return "must be a non-empty list (an explicit TLS policy)" if value in ([], "", None) else None


def _sans(value):
    if not isinstance(value, list):
        return "must be a list of 'DNS:name' or 'IP:address' entries"
    for san in value:
        if isinstance(san, str) and san.startswith("DNS:") and (
                _valid_hostname(san[4:]) or (san.startswith("DNS:*.") and _valid_hostname(san[6:]))):
            continue
        if isinstance(san, str) and san.startswith("IP:") and _is_ip(san[3:]):
            continue
        return f"must be a list of 'DNS:name' or 'IP:address' entries; refused: {san!r}"
    return None


def _services(value):
    if not isinstance(value, list):
        return "must be a list of {unit, probe} entries"
    for item in value:
        unit = item.get("unit") if isinstance(item, dict) else None
        if not isinstance(unit, str) or not _UNIT.fullmatch(unit):
            return ("needs a systemd unit name per entry (letters, digits, ':', '_', '.', '@', '-', ending in "
                    f".service or another unit type; no '/' or blank); refused: {unit!r}")
    return None


def _restart_timeout(value):
    return None if re.fullmatch(r"[0-9]+( [0-9]+)?", str(value)) else "must be one number or \"base cap\""


# Checks of the values of every string-valued setting a template renders. Numbers and booleans are typed
# by the argument specs (booleans strictly, below); list-of-dict settings with their own shape are checked
# by _structured.
CHECKS = {
    "cluster_name": _token(_CLUSTER_NAME, "letters, digits, blanks, '.', '_' and '-' (at most 63, starting "
                                          "with a letter or digit)"),
    "cluster_broker_group": _token(_INVENTORY_NAME, "an inventory group name"),
    "cluster_bridge_group": _token(_INVENTORY_NAME, "an inventory group name"),
    "cluster_lb_group": _token(_INVENTORY_NAME, "an inventory group name"),
    "cluster_dns_name": _optional(lambda v: None if _valid_hostname(v) else
                                  "must be a DNS name (letters, digits, '-' and '.'; no blank, no ':port')"),
    "cluster_pki_dir": _token(_SAFE_PATH, "an absolute path of letters, digits and . _ / @ + -"),
    "cluster_local_dir": lambda v: (None if isinstance(v, str) and v.startswith("/") and not _CONTROL.search(v)
                                    else "must be an absolute controller path (a relative one would be read "
                                         "against different directories by different tasks)"),
    "cluster_address": _ipv4,
    "cluster_vip": lambda v: (None if not _ipv4(v) else
                              "must be the virtual IPv4 address clients connect to (for example 10.0.0.100)"),
    "inventory_hostname": _token(_INVENTORY_NAME, "letters, digits, '.', '_' and '-' only (no blank), starting "
                                                  "with a letter or digit: it names certificates, bridge "
                                                  "connections and keepalived's router_id"),
    "ansible_host": _address_or_hostname,
    "cluster_bridge_username": username_problem,
    "cluster_watchdog_username": username_problem,
    "cluster_bridge_password": password_problem,
    "cluster_watchdog_password": password_problem,
    "broker_persistence_location": _token(_SAFE_PATH, "an absolute path of letters, digits and . _ / @ + -"),
    "broker_persistent_client_expiration": _token(_MOSQ_DURATION, "empty or a number and a unit h, d, w, m "
                                                                  "or y (e.g. 14d)"),
    "broker_tls_ciphers": lambda v: _nonempty_list(v) or _list_of(
        _token(_CIPHER, "x"), "OpenSSL cipher names or cipher-list words of letters, digits and : , + ! @ = _ . - "
                              "(e.g. ECDHE-ECDSA-AES128-GCM-SHA256); no blank, quote or '#'")(v),
    "broker_tls_ciphers_tls13": lambda v: _nonempty_list(v) or _list_of(
        _token(_CIPHERSUITE, "x"), "TLS 1.3 cipher suite names of letters, digits, '_' and ':' "
                                   "(e.g. TLS_AES_128_GCM_SHA256)")(v),
    "broker_log_types": _list_of(lambda v: None if v in _LOG_TYPES else "bad",
                                 "mosquitto log types (" + ", ".join(sorted(_LOG_TYPES)) + ")"),
    "broker_certificate_users": _list_of(username_problem, "user names without blanks, ':' or line breaks"),
    "broker_extra_config": lambda v: "; ".join(extra_config_problems(v)) or None,
    "bridge_topic": lambda v: (f"is not a valid MQTT topic filter: it {topic_filter_problem(v)}"
                               if topic_filter_problem(v) else None),
    "bridge_restart_timeout": _restart_timeout,
    "loadbalancer_listen_address": _optional(_ipv4),
    "loadbalancer_hash_key": _token(_NGINX_HASH_KEY, "nginx variables and letters, digits, '.', ':', '_', '-' "
                                                     "(e.g. $remote_addr); no blank, ';', quote or brace"),
    "loadbalancer_fail_timeout": _token(_NGINX_TIME, "an nginx time such as 10s or 1m"),
    "loadbalancer_connect_timeout": _token(_NGINX_TIME, "an nginx time such as 3s"),
    "loadbalancer_proxy_timeout": _token(_NGINX_TIME, "an nginx time such as 10m"),
    "loadbalancer_worker_processes": _token(re.compile(r"^(auto|[1-9][0-9]{0,3})$"), "auto or a number"),
    "vip_interface": _token(_IFNAME, "a network interface name (at most 15 letters, digits, '_', '.', '-')"),
    "vip_script_user": _token(_SYSTEM_NAME, "a system user name"),
    "bridge_standby_interface": _token(_IFNAME, "a network interface name (at most 15 letters, digits, '_', '.', "
                                                "'-')"),
    "bridge_standby_marker_address": lambda v: (None if not _ipv4(v) and v.startswith("127.") else
                                                "must be a loopback IPv4 address (127.x.x.x)"),
    "vip_auth_pass": lambda v: (None if isinstance(v, str) and _VRRP_PASS.fullmatch(v) else
                                "must be 1 to 8 characters from letters, digits and $%&()*+,./:;<=>?@[]^_`|~- "
                                "(keepalived reads '!' and '#' as comments and splits at blanks and quotes)"),
    "pki_key_owner": _token(_SYSTEM_NAME, "a system user name"),
    "pki_key_group": _token(_SYSTEM_NAME, "a system group name"),
    "pki_key_curve": _token(re.compile(r"^[A-Za-z0-9_-]+$"), "a curve name such as secp256r1"),
    "pki_ca_common_name": _token(_CLUSTER_NAME, "letters, digits, blanks, '.', '_' and '-'"),
    "pki_extra_sans": _sans,
    "pki_ca_cert_path": _optional(lambda v: None if isinstance(v, str) and v.startswith("/")
                                  and not _CONTROL.search(v) else "must be an absolute controller path"),
    "pki_ca_key_path": _optional(lambda v: None if isinstance(v, str) and v.startswith("/")
                                 and not _CONTROL.search(v) else "must be an absolute controller path"),
    "pki_extra_ca_certs": _list_of(
        lambda v: not (isinstance(v, str) and v.startswith("/") and not _CONTROL.search(v)),
        "absolute controller paths of CA certificates"),
    "pki_local_dir": lambda v: (None if isinstance(v, str) and v.startswith("/") and not _CONTROL.search(v)
                                else "must be an absolute controller path"),
    "metrics_listen_address": _optional(_ipv4),
    "metrics_textfile_dir": _token(_SAFE_PATH, "an absolute path of letters, digits and . _ / @ + -"),
    "metrics_packages": _list_of(_token(re.compile(r"^[a-z0-9][a-z0-9+.-]+$"), "x"),
                                 "Debian package names (lower-case letters, digits, '+', '-' and '.')"),
    "watchdog_services": _services,
    "watchdog_extra_services": _services,
}

SECRETS = frozenset({"cluster_bridge_password", "cluster_watchdog_password", "vip_auth_pass",
                     "pki_ca_key_passphrase", "broker_users"})

_ACCESS = ("read", "write", "readwrite", "deny")


def _acl_problems(name, rules, with_user, allow_substitution):
    problems = []
    if not isinstance(rules, list):
        return [f"{name} must be a list of rules"]
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            problems.append(f"{name}[{i}] must be a mapping {{access, topic}}")
            continue
        if rule.get("access") not in _ACCESS:
            problems.append(f"{name}[{i}] needs an access of {', '.join(_ACCESS)}; got {rule.get('access')!r}")
        why = topic_filter_problem(rule.get("topic"), allow_substitution)
        if why:
            problems.append(f"{name}[{i}] has the topic {rule.get('topic')!r}, which {why}")
        if with_user:
            why = username_problem(rule.get("username"))
            if why:
                problems.append(f"{name}[{i}] has the username {rule.get('username')!r}, which {why}")
    return problems


def _users_problems(users):
    problems = []
    if not isinstance(users, list):
        return ["broker_users must be a list of {username, password}"]
    for i, user in enumerate(users):
        if not isinstance(user, dict):
            problems.append(f"broker_users[{i}] must be a mapping {{username, password}}")
            continue
        why = username_problem(user.get("username"))
        if why and user.get("username") not in (None, ""):
            problems.append(f"broker_users[{i}] has the username {user.get('username')!r}, which {why}")
        password = user.get("password")
        if password not in (None, "") and password_problem(password):
            problems.append(f"the password of broker_users[{i}] ({user.get('username')!r}) "
                            f"{password_problem(password)}")
    return problems


def _control_paths(value, path=""):
    """Paths inside a value (nested lists and mappings) to strings holding control characters."""
    if isinstance(value, str):
        return [path] if _CONTROL.search(value) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _control_paths(v, f"{path}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _control_paths(v, f"{path}[{i}]")]
    return []


def setting_problems(values, host="this host"):
    """One message per unsafe value in a mapping of setting names to values."""
    if not isinstance(values, dict):
        raise AnsibleFilterError("setting_problems expects a mapping of setting names to values")
    specs = _specs()
    problems = []
    unchecked_extra = False
    if "broker_extra_config_unchecked" in values:
        if not _is_bool(values["broker_extra_config_unchecked"]):
            problems.append(f"broker_extra_config_unchecked on {host} must be true or false.")
        else:
            unchecked_extra = strict_bool(values["broker_extra_config_unchecked"])
    for name in sorted(values):
        value = values[name]
        spec = specs.get(DEPRECATED.get(name, name), {})
        secret = name in SECRETS or spec.get("no_log", False)
        if spec.get("type") == "bool":
            if not _is_bool(value):
                problems.append(f"{name} on {host} must be a boolean: true or false, with no blank or other word "
                                f"(got {value!r}).")
            continue
        if name == "broker_extra_config":
            if unchecked_extra:
                if _CONTROL_BUT_NEWLINE.search(str(value)):
                    problems.append(f"broker_extra_config on {host} holds a control character.")
                continue
            problems += [f"{p} (on {host})." for p in extra_config_problems(value)]
            continue
        if name == "broker_users":
            problems += [f"{p} (on {host})." for p in _users_problems(value)]
            continue
        if name in ("broker_acl", "broker_acl_patterns", "broker_acl_anonymous"):
            acl_problems = _acl_problems(name, value, name == "broker_acl", name == "broker_acl_patterns")
            problems += [f"{p} (on {host})." for p in acl_problems]
            continue
        bad_paths = _control_paths(value)
        if bad_paths:
            where = "" if bad_paths == [""] else " at " + ", ".join(bad_paths)
            problems.append(f"{name} on {host} holds a line break or control character{where}; it would start a "
                            "new line in a configuration file. Remove it.")
            continue
        check = CHECKS.get(name)
        why = check(value) if check else None
        if why:
            shown = "" if secret else f" (got {value!r})"
            problems.append(f"{name} on {host} {why}{shown}.")
    return problems


def host_problems(hosts, hostvars):
    """setting_problems of every host: the values each host's inventory gives the collection's settings."""
    names = set(_known()) | {"ansible_host"}
    problems = []
    for host in hosts:
        hv = hostvars[host]
        values = {}
        for name in sorted(names):
            if name not in hv:
                continue
            try:
                values[name] = hv[name]
            except Exception as exc:  # noqa: BLE001 (any templating error: undefined, lookup, syntax)
                # Refused, not skipped: a value nobody can check must not reach a host. The message names what is
                # missing (the first line of the error), never the value.
                problems.append(f"{name} on {host} cannot be worked out on the controller before any host is "
                                f"contacted ({str(exc).splitlines()[0][:200]}). Inventory values may refer to other "
                                "inventory variables, not to the roles' defaults: define what it refers to in the "
                                "inventory (e.g. cluster_local_dir in group_vars/all).")
        values["inventory_hostname"] = host
        problems += setting_problems(values, host)
    return problems


def host_unknown_settings(hosts, hostvars):
    """unknown_settings of every host, each entry with its host."""
    return [dict(item, host=host) for host in hosts for item in unknown_settings(list(hostvars[host].keys()))]


def shared_addresses(hosts, hostvars):
    """Addresses (ansible_host, or the cluster address) that more than one of the hosts resolve to."""
    try:
        from ansible_collections.mosquitto_ha.cluster.plugins.filter.topology import host_address
    except ImportError:  # loaded by path (unit tests)
        import importlib.util
        spec = importlib.util.spec_from_file_location("topology", pathlib.Path(__file__).with_name("topology.py"))
        topology = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(topology)
        host_address = topology.host_address

    by_address = {}
    for host in hosts:
        hv = hostvars[host]
        mine = {str(hv["ansible_host"])} if hv.get("ansible_host") not in (None, "") else set()
        try:
            mine.add(host_address(hostvars, host))
        except AnsibleFilterError:
            pass  # a host without an address is reported by the checks that need it
        for address in mine:
            by_address.setdefault(address, [])
            if host not in by_address[address]:
                by_address[address].append(host)
    return {a: hs for a, hs in sorted(by_address.items()) if len(hs) > 1}


def vip_problem(vip, prefix):
    """Why the VIP cannot be held in its subnet (network or broadcast address), or an empty string."""
    try:
        net = ipaddress.IPv4Network(f"{vip}/{int(prefix)}", strict=False)
    except (ValueError, TypeError):
        return ""
    if net.prefixlen < 31 and ipaddress.IPv4Address(vip) in (net.network_address, net.broadcast_address):
        which = "network" if ipaddress.IPv4Address(vip) == net.network_address else "broadcast"
        return (f"cluster_vip {vip} is the {which} address of {net}; no host can hold it. Pick a free host "
                "address of that subnet.")
    return ""


class FilterModule:
    def filters(self):
        return {
            "strict_bool": strict_bool,
            "setting_problems": setting_problems,
            "known_settings": known_settings,
            "unknown_settings": unknown_settings,
            "shared_addresses": shared_addresses,
            "host_problems": host_problems,
            "host_unknown_settings": host_unknown_settings,
            "vip_problem": vip_problem,
            "role_default": role_default,
        }
