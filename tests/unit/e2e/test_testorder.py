"""tests/e2e/testorder.py: molecule test files run in the order their scenario's conftest.py lists, and a test file
that is not listed stops the run."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "e2e"))

from testorder import order  # noqa: E402


class Item:
    def __init__(self, path, name):
        self.fspath, self.name = path, name

    def __repr__(self):
        return f"{pathlib.Path(self.fspath).name}::{self.name}"


def _items(tmp_path, *specs):
    return [Item(tmp_path / file, name) for file, name in specs]


def test_files_run_in_the_listed_order_and_a_files_tests_keep_theirs(tmp_path):
    items = _items(tmp_path, ("test_a.py", "one"), ("test_a.py", "two"), ("test_b.py", "one"),
                   ("test_c.py", "one"), ("test_c.py", "two"))
    order(items, ["test_c.py", "test_a.py", "test_b.py"], tmp_path)
    assert [repr(i) for i in items] == ["test_c.py::one", "test_c.py::two", "test_a.py::one", "test_a.py::two",
                                        "test_b.py::one"]


def test_an_unlisted_file_stops_the_run_naming_it(tmp_path):
    items = _items(tmp_path, ("test_a.py", "one"), ("test_new.py", "one"), ("test_other.py", "x"))
    with pytest.raises(pytest.UsageError, match=r"not in TEST_ORDER .*: test_new\.py, test_other\.py\."):
        order(items, ["test_a.py"], tmp_path)


def test_a_listed_file_that_does_not_exist_is_left_out(tmp_path):
    items = _items(tmp_path, ("test_b.py", "one"), ("test_a.py", "one"))
    order(items, ["test_a.py", "test_later.py", "test_b.py"], tmp_path)
    assert [repr(i) for i in items] == ["test_a.py::one", "test_b.py::one"]


def test_a_file_listed_twice_is_refused(tmp_path):
    with pytest.raises(pytest.UsageError, match="twice"):
        order(_items(tmp_path, ("test_a.py", "one")), ["test_a.py", "test_a.py"], tmp_path)


@pytest.mark.parametrize("scenario", ["default", "failover", "scale_out"])
def test_every_scenario_lists_each_of_its_test_files(scenario):
    """The scenarios' own lists: every test file present is placed (the run would stop otherwise)."""
    tests = pathlib.Path(__file__).resolve().parents[3] / "molecule" / scenario / "tests"
    source = (tests / "conftest.py").read_text()
    listed = source.split("TEST_ORDER = [", 1)[1].split("]", 1)[0]
    for path in sorted(tests.glob("test_*.py")):
        assert f'"{path.name}"' in listed, f"{path.name} is not in molecule/{scenario}/tests/conftest.py TEST_ORDER"
