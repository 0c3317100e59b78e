"""Unit tests for plugins/filter/shared.py: well-known paths, MQTT login lines, the restart drop-in."""

import importlib.util
import pathlib
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

_PATH = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "filter" / "shared.py"
_SPEC = importlib.util.spec_from_file_location("shared", _PATH)
shared = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(shared)


def test_cluster_path_gives_each_known_file():
    for name, path in shared.PATHS.items():
        assert shared.cluster_path(name) == path
        assert path.startswith("/")
    assert shared.cluster_path("bridge_conf") == "/etc/mosquitto/conf.d/bridge.conf"
    assert len(set(shared.PATHS.values())) == len(shared.PATHS)


@pytest.mark.parametrize("name", ["bridge.conf", "", None])
def test_cluster_path_refuses_an_unknown_name(name):
    with pytest.raises(AnsibleFilterError, match="no file is called.*known: bridge_conf"):
        shared.cluster_path(name)


def test_mqtt_login_sh_quotes_the_user_and_reads_the_password_file():
    text = shared.mqtt_login_sh("watch dog")
    assert "printf -- '-u %s\\n' 'watch dog';" in text
    assert '"$(cat /etc/mosquitto-ha/watchdog-mqtt-password)"' in text
    assert text.startswith("set -o pipefail\numask 077\n") and text.endswith('export XDG_CONFIG_HOME="$cfg"\n')
    assert "'/var/tmp/my pw'" in shared.mqtt_login_sh("u", "/var/tmp/my pw")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_mqtt_login_sh_writes_private_options_files(tmp_path):
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    script = shared.mqtt_login_sh("user'1", str(password)) + 'cat "$XDG_CONFIG_HOME/mosquitto_pub"; ' \
        'stat -c %a "$XDG_CONFIG_HOME/mosquitto_sub"\n'
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout
    assert out == "-u user'1\n-P s3cret\n600\n"


@pytest.mark.parametrize("args", [("",), ("a\nb",), (None,), ("u", "relative/pw"), ("u", "/pw\nx")])
def test_mqtt_login_sh_refuses_what_breaks_the_lines(args):
    with pytest.raises(AnsibleFilterError):
        shared.mqtt_login_sh(*args)


def test_restart_dropin_text():
    assert shared.restart_dropin("nginx.service", 1) == (
        "#\n# Ansible managed\n#\n"
        "# A crashed nginx.service comes back after 1 s; the mosquitto-ha\n"
        "# watchdog covers what systemd cannot see (a hung process) and restarts past the start limit.\n"
        "[Service]\nRestart=always\nRestartSec=1\n")
    assert "RestartSec=0.5\n" in shared.restart_dropin("x@y.service", 0.5)
    assert "RestartSec=2\n" in shared.restart_dropin("cron.service", "2")
    assert shared.restart_dropin("a.service", 1, managed="line 1\nline 2").startswith("#\n# line 1\n# line 2\n#\n")


@pytest.mark.parametrize("unit, sec", [("nginx", 1), ("a b.service", 1), ("a.service\n", 1), ("a.service", -1),
                                       ("a.service", "1\nExecStart=/bin/sh"), ("a.service", True),
                                       ("a.service", "soon")])
def test_restart_dropin_refuses_bad_values(unit, sec):
    with pytest.raises(AnsibleFilterError):
        shared.restart_dropin(unit, sec)


@pytest.mark.parametrize("value", ["x\ny", "x\rz", "x;y", "x}", "#x", 'x"y', "x y", "x\x00", " x", "true ", "$x",
                                   "1\n2", "1;", "1\nExecStart=/bin/sh", "1 2"])
def test_restart_dropin_keeps_its_structure_or_refuses(value):
    """cluster_systemd_restart_sec reaches the drop-in through this filter only: a value either is refused or
    gives the same lines as a plain number."""
    baseline = shared.restart_dropin("a.service", 1).splitlines()
    try:
        text = shared.restart_dropin("a.service", value)
    except AnsibleFilterError:
        return
    lines = text.splitlines()
    assert [line.split("=")[0] for line in lines] == [line.split("=")[0] for line in baseline]
