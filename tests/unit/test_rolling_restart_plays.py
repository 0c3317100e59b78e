"""A play that leaves restarts for later (broker_restart_later, loadbalancer_restart_later) must be followed by a play
that runs the role's restart entry point on the same hosts, one node at a time, and stops at the first failure;
otherwise the marked daemons would not be restarted until some later run. The configuring play itself stops every
host at the first failure, so no host restarts into a change that failed elsewhere."""

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
LATER = {"broker_restart_later": "mosquitto_ha.cluster.broker",
         "loadbalancer_restart_later": "mosquitto_ha.cluster.loadbalancer"}
PLAYBOOKS = ("site.yml", "add_broker.yml", "remove_broker.yml")


def _plays(name):
    return yaml.safe_load((ROOT / "playbooks" / name).read_text(encoding="utf-8"))


def _restart_role(play):
    """The role whose restart entry point the play runs, or None."""
    for task in play.get("tasks", []):
        include = task.get("ansible.builtin.include_role")
        if include and include.get("tasks_from") == "restart.yml":
            return include["name"]
    return None


def test_the_roles_restart_at_once_unless_told():
    for variable, role in LATER.items():
        short = role.rsplit(".", 1)[1]
        defaults = yaml.safe_load((ROOT / "roles" / short / "defaults" / "main.yml").read_text(encoding="utf-8"))
        assert defaults[variable] is False, variable
        assert (ROOT / "roles" / short / "tasks" / "restart.yml").is_file()


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_restart_left_for_later_has_its_rolling_play(playbook):
    plays = _plays(playbook)
    later = [(i, variable) for i, play in enumerate(plays) for variable in LATER
             if (play.get("vars") or {}).get(variable) is True]
    assert later, f"{playbook} leaves no restart for later"
    for i, variable in later:
        play = plays[i]
        assert play.get("any_errors_fatal") is True, f"{playbook}: play {play['name']!r} goes on after a failure"
        assert "serial" not in play, f"{playbook}: play {play['name']!r} configures its hosts one at a time"
        following = plays[i + 1] if i + 1 < len(plays) else {"name": "(none)"}
        assert _restart_role(following) == LATER[variable], \
            f"{playbook}: play {play['name']!r} is not followed by the restart of {LATER[variable]}"
        assert following.get("hosts") == play["hosts"], f"{playbook}: the restart play runs on other hosts"
        assert following.get("serial") is not None, f"{playbook}: the restart play is not one node at a time"
        assert following.get("max_fail_percentage") == 0, f"{playbook}: the restart play goes on after a failure"


def test_site_restarts_the_brokers_as_cluster_broker_serial_says():
    plays = _plays("site.yml")
    restart = next(play for play in plays if _restart_role(play) == LATER["broker_restart_later"])
    assert restart["serial"] == "{{ cluster_broker_serial | default(1) }}"
    lb_restart = next(play for play in plays if _restart_role(play) == LATER["loadbalancer_restart_later"])
    assert lb_restart["serial"] == 1


def test_site_configures_the_bridge_master_with_the_brokers_and_restarts_it_last():
    """The bridge master's mosquitto is configured in the brokers' play (at the same time) and restarted by the same
    rolling play, after every broker: its hosts list the bridge group last, and serial batches follow that order."""
    plays = _plays("site.yml")
    configure = next(play for play in plays
                     if (play.get("vars") or {}).get("broker_restart_later") is True)
    assert configure["hosts"][-1].startswith("{{ cluster_bridge_group"), configure["hosts"]
    assert configure["hosts"][0].startswith("{{ cluster_broker_group"), configure["hosts"]
    roles = [role["role"] for role in configure["roles"]]
    assert roles == ["mosquitto_ha.cluster.broker", "mosquitto_ha.cluster.bridge"], roles
    bridge = configure["roles"][1]
    assert "cluster_bridge_group" in bridge["when"], "the bridge role would run on the brokers too"
    assert not [play for play in plays if play is not configure
                and any(role.get("role") == "mosquitto_ha.cluster.bridge" for role in play.get("roles", []))]
