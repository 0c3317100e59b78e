"""Each role owns the files of its daemon: no role's tasks write into another daemon's systemd drop-in directory.

mosquitto's drop-ins belong to the broker role (which also runs on the bridge master), nginx's to the loadbalancer
role, keepalived's to the vip role (the bridge role runs the vip role's keepalived.yml on a pair of bridge masters),
the watchdog's unit to the watchdog role. The watchdog may give systemd's restart policy to the units it watches that
no role manages (the user's own), and to no other.
"""

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]

# Unit (without .service) -> the role whose tasks may write its drop-ins.
OWNERS = {
    "mosquitto": "broker",
    "nginx": "loadbalancer",
    "keepalived": "vip",
    "mosquitto-ha-watchdog": "watchdog",
}
DROPIN = re.compile(r"/etc/systemd/system/(?P<unit>[^/]+?)\.(service\.)?d(/|$)")
PATH_KEYS = ("dest", "path", "name")
FILE_MODULES = {"template", "copy", "file", "lineinfile", "blockinfile", "ini_file", "replace", "community.general."
                "ini_file", "assemble", "get_url", "unarchive"}


def _tasks(items):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def _module(task):
    for key, value in task.items():
        short = key.replace("ansible.builtin.", "").replace("ansible.posix.", "")
        if short in FILE_MODULES and isinstance(value, dict):
            return short, value
    return None, None


def writes(role, tasks):
    """(role, unit or template, task name, loop) for every task that writes under a systemd drop-in directory."""
    found = []
    for task in _tasks(tasks):
        module, args = _module(task)
        if module is None:
            continue
        for key in PATH_KEYS:
            target = args.get(key)
            if not isinstance(target, str):
                continue
            match = DROPIN.search(target)
            if match:
                found.append((role, match.group("unit"), task.get("name", ""), str(task.get("loop", ""))))
    return found


def boundary_problems(found):
    problems = []
    for role, unit, name, loop in found:
        if "{{" in unit:
            if role != "watchdog" or "__watchdog_unmanaged_units" not in loop:
                problems.append(f"{role}: '{name}' writes a drop-in of a unit it computes ({unit}); only the "
                                "watchdog may, and only for __watchdog_unmanaged_units")
            continue
        owner = OWNERS.get(unit)
        if owner is None:
            problems.append(f"{role}: '{name}' writes a drop-in of {unit}, which has no owner in this test's OWNERS")
        elif owner != role:
            problems.append(f"{role}: '{name}' writes into {unit}'s drop-in directory, which the {owner} role owns")
    return problems


def _role_task_files():
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("roles/*/handlers/*.yml")):
        yield path.parts[-3], yaml.safe_load(path.read_text())


def all_writes():
    found = []
    for role, tasks in _role_task_files():
        found += writes(role, tasks)
    return found


def test_no_role_writes_into_another_daemons_dropin_directory():
    problems = boundary_problems(all_writes())
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("unit", ["mosquitto", "nginx", "keepalived"])
def test_each_daemon_gets_its_restart_policy_from_its_own_role(unit):
    restart = [(role, u) for role, u, _name, _loop in all_writes() if u == unit]
    assert (OWNERS[unit], unit) in restart
    for path in ROOT.glob(f"roles/{OWNERS[unit]}/tasks/*.yml"):
        if f"/etc/systemd/system/{unit}.service.d/mosquitto-ha-restart.conf" in path.read_text():
            break
    else:
        pytest.fail(f"the {OWNERS[unit]} role writes no restart drop-in of {unit}")


def test_the_watchdog_leaves_the_managed_units_to_their_roles():
    """The units the watchdog keeps its hands off are exactly the ones another role owns."""
    variables = yaml.safe_load((ROOT / "roles" / "watchdog" / "vars" / "main.yml").read_text())
    managed = {unit.removesuffix(".service") for unit in variables["__watchdog_managed_units"]}
    assert managed == {unit for unit, role in OWNERS.items() if role != "watchdog"}
    assert "reject('in', __watchdog_managed_units)" in variables["__watchdog_unmanaged_units"]


def test_the_check_finds_a_role_writing_another_daemons_dropin():
    tasks = [{"name": "Restart policy", "block": [
        {"name": "Drop-in", "ansible.builtin.template": {
            "src": "r.j2", "dest": "/etc/systemd/system/mosquitto.service.d/mosquitto-ha-restart.conf"}}]},
        {"name": "Dir", "ansible.builtin.file": {"path": "/etc/systemd/system/nginx.service.d", "state": "directory"}},
        {"name": "Any",
         "ansible.builtin.template": {"src": "r.j2", "dest": "/etc/systemd/system/{{ item.unit }}.d/x.conf"},
         "loop": "{{ __watchdog_all_services }}"}]
    problems = boundary_problems(writes("watchdog", tasks))
    assert len(problems) == 3, problems
    assert "the broker role owns" in problems[0] and "the loadbalancer role owns" in problems[1]
    assert boundary_problems(writes("broker", tasks[:1])) == []


# Roles talk through documented variables (role-prefixed, without the leading "__"), handler topics and task files
# they include; a "__<role>_" name is that role's own. The one exception: the preflight playbook's fact that every
# check passed, which each role's preflight step reads to run once per playbook run.
SHARED_INTERNALS = {"__cluster_preflight_passed"}
INTERNAL = re.compile(r"\b__([a-z]+)_[a-z0-9_]+")


def _foreign_internals(role_dir, roles):
    """'<file>: <name>' for each internal variable of another role that a role's files name."""
    found = set()
    for path in sorted(role_dir.rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):
            for match in INTERNAL.finditer(path.read_text(encoding="utf-8")):
                if match.group(1) in roles and match.group(1) != role_dir.name \
                        and match.group(0) not in SHARED_INTERNALS:
                    found.add(f"{role_dir.name}/{path.relative_to(role_dir)}: {match.group(0)}")
    return found


def _roles():
    return {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}


def test_no_role_reads_another_roles_internal_variables():
    roles = _roles()
    found = set().union(*(_foreign_internals(ROOT / "roles" / r, roles) for r in sorted(roles)))
    assert not found, "internal variables of another role: " + ", ".join(sorted(found))


def test_the_check_finds_a_role_reading_another_roles_internal_variable(tmp_path):
    role = tmp_path / "bridge"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text(
        '- ansible.builtin.debug:\n    msg: "{{ __vip_install }} {{ __bridge_own }} {{ __cluster_preflight_passed }}"\n')
    assert _foreign_internals(role, _roles()) == {"bridge/tasks/main.yml: __vip_install"}
