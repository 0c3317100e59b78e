# Copyright: mosquitto-ha maintainers
# MIT License (see LICENSE)
"""Values that several roles read: well-known file paths, the MQTT login lines of a shell, the systemd restart drop-in."""

from __future__ import annotations

import re
import shlex

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: shared
short_description: The files, shell lines and drop-ins that more than one role of the collection reads or writes
version_added: 0.4.0
description:
  - This plugin file provides the filters C(cluster_path), C(mqtt_login_sh) and C(restart_dropin). Each gives one
    definition of something several roles use, so that no role keeps a copy of another role's file name or text.
  - C(cluster_path) returns the path of a well-known file by its internal name. A role that writes the file and the
    roles that read it (status, upgrade, metrics, the watchdog's probe, the playbooks) all take the path from here.
    The names are C(bridge_conf) (the bridge master's mosquitto configuration), C(bridge_state) (the VRRP state a
    bridge master of a pair is in), C(watchdog_password) (the password file of the watchdog's MQTT user),
    C(watchdog_pause_dir) (where a file named after a unit pauses the watchdog for it), C(watchdog_config),
    C(metrics_config), C(password_staging) (where mosquitto's users are hashed first), C(mosquitto_check_config)
    and C(keepalived_check_config) (the configuration checkers used by C(validate)), C(keepalived_conf), and
    C(vrrp_pending) (present while a load balancer's keepalived waits to switch to new shared VRRP settings),
    C(mosquitto_restart_due) and C(nginx_restart_due) (present while a configuration change waits for the rolling
    restart of that daemon, see the broker and loadbalancer roles' C(restart) entry points).
  - C(mqtt_login_sh) returns the shell lines that give C(mosquitto_sub) and C(mosquitto_pub) a user name and the
    password read from a file through a private options file (C($XDG_CONFIG_HOME/mosquitto_sub) and
    C(mosquitto_pub)), removed when the shell exits, so that the password never appears on a command line. The
    lines turn on C(pipefail) and C(umask 077); they need bash.
  - C(restart_dropin) returns the text of the systemd drop-in that gives a unit C(Restart=always) and a
    C(RestartSec); each role writes it for the daemon it owns with C(ansible.builtin.copy).
options:
  _input:
    description:
      - For C(cluster_path), the internal name of the file.
      - For C(mqtt_login_sh), the MQTT user name.
      - For C(restart_dropin), the systemd unit (for example C(mosquitto.service)).
    type: str
    required: true
  password_file:
    description: For C(mqtt_login_sh), the file that holds the password (one line).
    type: path
    default: the C(watchdog_password) file
  restart_sec:
    description:
      - For C(restart_dropin), the seconds systemd waits before it starts the unit again (the roles pass
        C(cluster_systemd_restart_sec), whose default is the one definition of the default).
    type: float
    required: true
  managed:
    description: For C(restart_dropin), the text of the comment the drop-in starts with.
    type: str
    default: Ansible managed
author:
  - mosquitto-ha maintainers
"""

EXAMPLES = r"""
- name: Read the bridge master's configuration
  ansible.builtin.slurp:
    src: "{{ 'bridge_conf' | mosquitto_ha.cluster.cluster_path }}"

- name: Subscribe as the watchdog's user without putting its password on the command line
  ansible.builtin.shell:
    executable: /bin/bash
    cmd: |
      {{ cluster_watchdog_username | mosquitto_ha.cluster.mqtt_login_sh }}
      mosquitto_sub -h 127.0.0.1 -t '$SYS/broker/uptime' -C 1
  changed_when: false
  no_log: true

- name: Let systemd restart a crashed nginx at once
  ansible.builtin.copy:
    content: "{{ 'nginx.service' | mosquitto_ha.cluster.restart_dropin(cluster_systemd_restart_sec) }}"
    dest: /etc/systemd/system/nginx.service.d/mosquitto-ha-restart.conf
    owner: root
    group: root
    mode: "0644"
"""

RETURN = r"""
_value:
  description:
    - C(cluster_path) returns an absolute path.
    - C(mqtt_login_sh) returns shell lines, each ending with a line break.
    - C(restart_dropin) returns the drop-in's text, ending with a line break.
  type: str
"""

# The one definition of each well-known path. tests/unit/roles/test_shared_paths.py fails when one of these literals
# appears in a role or playbook.
PATHS = {
    "bridge_conf": "/etc/mosquitto/conf.d/bridge.conf",
    "bridge_state": "/run/mosquitto-ha/bridge-state",
    "watchdog_password": "/etc/mosquitto-ha/watchdog-mqtt-password",
    "watchdog_pause_dir": "/run/mosquitto-ha/watchdog-pause",
    "watchdog_config": "/etc/mosquitto-ha/watchdog.json",
    "metrics_config": "/etc/mosquitto-ha/metrics.json",
    "password_staging": "/etc/mosquitto-ha/passwd.staging",
    "mosquitto_check_config": "/usr/local/libexec/mosquitto-ha/mosquitto-check-config",
    "keepalived_check_config": "/usr/local/libexec/mosquitto-ha/keepalived-check-config",
    "keepalived_conf": "/etc/keepalived/keepalived.conf",
    "vrrp_pending": "/run/mosquitto-ha-vrrp-pending",
    "mosquitto_restart_due": "/run/mosquitto-ha-restart-due-mosquitto",
    "nginx_restart_due": "/run/mosquitto-ha-restart-due-nginx",
}

_UNIT = re.compile(r"[A-Za-z0-9:_.@-]+\.[a-z]+")


def cluster_path(name):
    """The path of the well-known file ``name``."""
    try:
        return PATHS[name]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"cluster_path: no file is called {name!r}; known: {', '.join(sorted(PATHS))}") from exc


def mqtt_login_sh(username, password_file=None):
    """Shell lines that log mosquitto_sub/_pub in as ``username`` with the password in ``password_file``."""
    if not isinstance(username, str) or not username or any(c in username for c in "\r\n\0"):
        raise AnsibleFilterError(f"mqtt_login_sh: {username!r} is not an MQTT user name")
    password_file = PATHS["watchdog_password"] if password_file is None else password_file
    if not isinstance(password_file, str) or not password_file.startswith("/") or "\n" in password_file:
        raise AnsibleFilterError(f"mqtt_login_sh: the password file must be an absolute path, got {password_file!r}")
    return (
        "set -o pipefail\n"
        "umask 077\n"
        "cfg=$(mktemp -d)\n"
        "trap 'rm -rf \"$cfg\"' EXIT\n"
        f"{{ printf -- '-u %s\\n' {shlex.quote(username)}; "
        f"printf -- '-P %s\\n' \"$(cat {shlex.quote(password_file)})\"; }} > \"$cfg/mosquitto_sub\"\n"
        "cp \"$cfg/mosquitto_sub\" \"$cfg/mosquitto_pub\"\n"
        "export XDG_CONFIG_HOME=\"$cfg\"\n"
    )


def restart_dropin(unit, restart_sec, managed="Ansible managed"):
    """The systemd drop-in that restarts ``unit`` ``restart_sec`` seconds after it crashed."""
    if not isinstance(unit, str) or not _UNIT.fullmatch(unit):
        raise AnsibleFilterError(f"restart_dropin: {unit!r} is not a systemd unit name")
    try:
        valid = not isinstance(restart_sec, bool) and float(restart_sec) >= 0
    except (TypeError, ValueError):
        valid = False
    if not valid or any(c in str(restart_sec) for c in "\r\n\0"):
        raise AnsibleFilterError(f"restart_dropin: restart_sec is {restart_sec!r}, not a number of seconds (0 or more)")
    seconds = str(restart_sec).strip()
    header = "".join(f"# {line}".rstrip() + "\n" for line in str(managed).splitlines())
    return (
        f"#\n{header}#\n"
        f"# A crashed {unit} comes back after {seconds} s; the mosquitto-ha\n"
        "# watchdog covers what systemd cannot see (a hung process) and restarts past the start limit.\n"
        "[Service]\n"
        "Restart=always\n"
        f"RestartSec={seconds}\n"
    )


class FilterModule:
    """Shared paths, shell lines and drop-ins."""

    def filters(self):
        return {
            "cluster_path": cluster_path,
            "mqtt_login_sh": mqtt_login_sh,
            "restart_dropin": restart_dropin,
        }
