"""scripts/role_docs.py renders every option of a role's argument spec into its README, between the markers,
and --check fails on a README whose table no longer matches its spec."""

import pathlib
import shutil
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import role_docs  # noqa: E402

ROLES = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


def _spec(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))


def _table_names(table):
    """Option names in the first column of a rendered table."""
    names = []
    for line in table.splitlines():
        if line.startswith("| `"):
            names.append(line.split("|")[1].strip().strip("`"))
    return names


def _copy_collection(tmp_path, roles):
    for role in roles:
        shutil.copytree(ROOT / "roles" / role / "meta", tmp_path / "roles" / role / "meta")
        shutil.copy(ROOT / "roles" / role / "README.md", tmp_path / "roles" / role / "README.md")
    return tmp_path


def test_every_role_has_a_spec():
    assert {"bridge", "broker", "cluster", "loadbalancer", "pki", "vip", "watchdog"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_table_lists_every_option_of_the_spec(role):
    entry_points = _spec(role)["argument_specs"].values()  # every entry point's table, in the spec's order
    expected = [name for entry in entry_points for name, _row in role_docs.rows(entry.get("options", {}))]
    table = role_docs.render_table(_spec(role))
    assert _table_names(table) == expected
    assert set(_spec(role)["argument_specs"]["main"]["options"]) <= set(expected)


def test_nested_options_choices_defaults_and_required():
    spec = {"argument_specs": {"main": {"options": {
        "demo_users": {"type": "list", "elements": "dict", "default": [], "description": ["Users", "of C(demo)."],
                       "options": {"name": {"type": "str", "required": True, "description": "Name | alias."},
                                   "secret": {"type": "str", "no_log": True, "description": "Its I(secret)."}}},
        "demo_mode": {"type": "str", "default": "fast", "choices": ["fast", "safe"], "description": "Mode."},
        "demo_dir": {"type": "path", "default": "{{ cluster_local_dir }}/demo", "description": "Where."},
        "demo_iface": {"type": "str", "default": "interface of the default route", "description": "Iface."},
        "demo_map": {"type": "dict", "default": {"a": 1}, "description": "Map.",
                     "options": {"a": {"type": "int", "description": "A."}}},
        "demo_empty": {"type": "str", "default": "", "description": "Empty."},
    }}}}
    table = role_docs.render_table(spec)
    lines = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines() if line.startswith("| `")}
    assert list(lines) == ["demo_users", "demo_users[].name", "demo_users[].secret", "demo_mode", "demo_dir",
                           "demo_iface", "demo_map", "demo_map.a", "demo_empty"]
    assert "| list of dict | `[]` |  | Users of `demo`. |" in lines["demo_users"]
    assert "| str |  | yes | Name \\| alias. |" in lines["demo_users[].name"]
    assert "Its *secret*. Secret: never logged." in lines["demo_users[].secret"]
    assert "| `fast` |  | Mode. Choices: `fast`, `safe`. |" in lines["demo_mode"]
    assert "| `{{ cluster_local_dir }}/demo` |" in lines["demo_dir"]
    assert "| *interface of the default route* |" in lines["demo_iface"]
    assert "| `{a: 1}` |" in lines["demo_map"]
    assert '| `""` |' in lines["demo_empty"]


def test_entry_point_without_variables_gets_a_sentence_not_an_empty_table():
    spec = {"argument_specs": {
        "main": {"options": {"demo_mode": {"type": "str", "default": "fast", "description": "Mode."}}},
        "order": {"short_description": "No options of its own."},
        "other": {"options": {}},
    }}
    table = role_docs.render_table(spec)
    assert "Entry point `order`:\n\nNo variables of its own.\n" in table
    assert "Entry point `other`:\n\nNo variables of its own.\n" in table
    assert table.count("| Variable |") == 1
    assert _table_names(table) == ["demo_mode"]


def test_check_detects_a_stale_readme(tmp_path, capsys):
    root = _copy_collection(tmp_path, ["vip", "pki"])
    assert role_docs.main(["--check", "--root", str(root)]) == 0
    spec_path = root / "roles" / "vip" / "meta" / "argument_specs.yml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["argument_specs"]["main"]["options"]["vip_new_option"] = {"type": "int", "default": 7, "description": "New."}
    spec_path.write_text(yaml.safe_dump(spec))
    capsys.readouterr()
    assert role_docs.main(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert str(root / "roles" / "vip" / "README.md") in err
    assert "pki" not in err
    # --check changed nothing; a run without it writes the new row, and --check is then satisfied.
    assert "vip_new_option" not in (root / "roles" / "vip" / "README.md").read_text()
    assert role_docs.main(["--root", str(root)]) == 0
    assert "| `vip_new_option` | int | `7` |  | New. |" in (root / "roles" / "vip" / "README.md").read_text()
    assert role_docs.main(["--check", "--root", str(root)]) == 0


def test_check_detects_a_hand_edited_table(tmp_path, capsys):
    root = _copy_collection(tmp_path, ["broker"])
    readme = root / "roles" / "broker" / "README.md"
    readme.write_text(readme.read_text().replace("| `broker_plain_port` | int | `1883` |",
                                                 "| `broker_plain_port` | int | `1884` |"))
    assert role_docs.main(["--check", "--root", str(root)]) == 1
    assert "broker/README.md" in capsys.readouterr().err


def test_check_fails_without_markers(tmp_path, capsys):
    root = _copy_collection(tmp_path, ["cluster"])
    readme = root / "roles" / "cluster" / "README.md"
    readme.write_text(readme.read_text().replace(role_docs.END, ""))
    assert role_docs.main(["--check", "--root", str(root)]) == 1
    assert "markers" in capsys.readouterr().err


def test_text_outside_the_markers_is_kept(tmp_path):
    root = _copy_collection(tmp_path, ["watchdog"])
    readme = root / "roles" / "watchdog" / "README.md"
    before = readme.read_text()
    head, tail = before.split(role_docs.BEGIN)[0], before.split(role_docs.END)[1]
    readme.write_text(head + role_docs.BEGIN + "\nold table\n" + role_docs.END + tail)
    assert role_docs.main(["--root", str(root)]) == 0
    assert readme.read_text() == before


@pytest.mark.parametrize("role", ROLES)
def test_committed_readmes_are_current(role):
    readme, current, fresh = role_docs.expected(ROOT / "roles" / role)
    assert current == fresh, f"{readme} is stale: run `make docs`"


def _with_doc(tmp_path, text):
    root = _copy_collection(tmp_path, ["cluster", "vip"])
    (root / "docs").mkdir()
    doc = root / "docs" / "ops.md"
    doc.write_text(text)
    return root, doc


def test_main_variables_table_takes_rows_from_the_specs(tmp_path):
    root, doc = _with_doc(tmp_path, "# Ops\n\n<!-- BEGIN MAIN VARIABLES: vip_preempt cluster_vip -->\nold\n"
                                    "<!-- END MAIN VARIABLES -->\n\nAfter.\n")
    assert role_docs.main(["--check", "--root", str(root)]) == 1
    assert role_docs.main(["--root", str(root)]) == 0
    text = doc.read_text()
    assert _table_names(text) == ["vip_preempt", "cluster_vip"]
    assert "| `vip_preempt` | [vip](../roles/vip/README.md#role-variables) | `false` |" in text
    assert "| `cluster_vip` | [cluster](../roles/cluster/README.md#role-variables) | required |" in text
    assert text.startswith("# Ops\n\n") and text.endswith("<!-- END MAIN VARIABLES -->\n\nAfter.\n")
    assert role_docs.main(["--check", "--root", str(root)]) == 0


def test_main_variables_table_refuses_a_name_no_spec_defines(tmp_path, capsys):
    root, _unused = _with_doc(tmp_path, "<!-- BEGIN MAIN VARIABLES: vip_preempt vip_nonexistent -->\n"
                                        "<!-- END MAIN VARIABLES -->\n")
    assert role_docs.main(["--check", "--root", str(root)]) == 1
    assert "vip_nonexistent" in capsys.readouterr().err


def test_committed_main_variables_tables_are_current():
    specs = {d.name: yaml.safe_load((d / "meta" / "argument_specs.yml").read_text()) for d in role_docs.role_dirs(ROOT)}
    docs = [doc for doc in (ROOT / "docs").glob("*.md") if role_docs.MAIN_BEGIN.search(doc.read_text())]
    assert docs, "docs/operations.md should carry the main variables table"
    for doc in docs:
        _unused, current, fresh = role_docs.expected_main(doc, ROOT, specs)
        assert current == fresh, f"{doc} is stale: run `make docs`"
