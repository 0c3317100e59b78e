"""Checks run whatever --tags or --skip-tags narrows a run to, and once per run.

A play that only checks (its name starts with Check, Preflight or Confirm) is tagged `always`, and so is every
role's preflight include; the include is skipped where playbooks/preflight.yml already checked every role.
tests/preflight/test_bad_inventory.py runs narrowed playbooks with bad values; this test keeps new plays and
roles to the rule.
"""

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
ROLE_MAINS = sorted((ROOT / "roles").glob("*/tasks/main.yml"))
CHECK_PREFIXES = ("Check", "Preflight", "Confirm", "Refuse")


def _plays(path):
    return [p for p in yaml.safe_load(path.read_text()) if "hosts" in p]


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_check_plays_are_tagged_always(playbook):
    checks = [p for p in _plays(playbook) if p["name"].startswith(CHECK_PREFIXES)]
    for play in checks:
        assert "always" in play.get("tags", []), f"{playbook.name}: play '{play['name']}' is not tagged always"


def test_every_changing_playbook_has_a_check_play():
    for playbook in PLAYBOOKS:
        if playbook.name == "status.yml":  # read-only
            continue
        names = [p["name"] for p in _plays(playbook)]
        imports = [p for p in yaml.safe_load(playbook.read_text()) if "ansible.builtin.import_playbook" in p]
        assert imports or any(n.startswith(CHECK_PREFIXES) for n in names), playbook.name


def test_preflight_records_that_it_passed_last():
    play = _plays(ROOT / "playbooks" / "preflight.yml")[-1]
    last = play["tasks"][-1]
    assert last["ansible.builtin.set_fact"] == {"__cluster_preflight_passed": True}


@pytest.mark.parametrize("main", [m for m in ROLE_MAINS if (m.parent / "preflight.yml").exists()],
                         ids=lambda m: m.parts[-3])
def test_role_preflight_runs_always_and_once(main):
    tasks = yaml.safe_load(main.read_text())
    includes = [t for t in tasks if (t.get("ansible.builtin.include_tasks") or {}).get("file") == "preflight.yml"]
    assert len(includes) == 1, f"{main}: preflight.yml is not included once"
    include = includes[0]
    assert "always" in include["tags"], main
    assert "always" in include["ansible.builtin.include_tasks"]["apply"]["tags"], main
    assert include["when"] == "not (__cluster_preflight_passed | default(false))", main
    assert tasks.index(include) == 0, f"{main}: the preflight is not the role's first step"
