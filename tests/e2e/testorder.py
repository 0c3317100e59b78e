"""The order in which a molecule scenario's test files run, stated in its conftest.py instead of implied by file names.

Each scenario's tests/conftest.py lists its test files in TEST_ORDER (tests that need a healthy cluster first, the
ones that break something after them) and hands pytest_collection_modifyitems to `order`. A test file that is not
in the list stops the run before any test starts: a new file has to be placed, it never runs in an accidental
position. A listed file that does not exist is left out (a scenario may list a file another branch adds).
"""

import os
import pathlib

import pytest


def order(items, test_order, tests_dir, config=None, docker_access_only=()):
    """Sort the collected `items` by the position of their file in `test_order` (names relative to `tests_dir`);
    the tests of one file keep their order. Raises pytest.UsageError naming every collected file not listed."""
    tests_dir = pathlib.Path(tests_dir).resolve()
    rank = {name: i for i, name in enumerate(test_order)}
    if len(rank) != len(test_order):
        raise pytest.UsageError(f"{tests_dir}/conftest.py: TEST_ORDER names a file twice: {test_order}")

    def name(item):
        path = pathlib.Path(str(item.fspath)).resolve()
        try:
            return str(path.relative_to(tests_dir))
        except ValueError:
            return str(path)

    unlisted = sorted({name(item) for item in items} - set(rank))
    if unlisted:
        raise pytest.UsageError(
            f"{tests_dir}: test files not in TEST_ORDER of its conftest.py: {', '.join(unlisted)}. Add each one at "
            "its place: before the tests that break something if it needs a healthy cluster, after them if not.")
    items.sort(key=lambda item: rank[name(item)])  # sort is stable: a file's own tests keep their order
    # Files in docker_access_only test what does not depend on how the playbooks reach the hosts (their own
    # ansible-playbook runs use molecule's docker inventory either way): they run in the scenario's docker-access
    # run and are deselected, and counted as such, in its operator's-path run (MOLECULE_ACCESS=ssh).
    if docker_access_only and os.environ.get("MOLECULE_ACCESS", "docker") != "docker":
        dropped = [item for item in items if name(item) in docker_access_only]
        if dropped and config is not None:
            config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if name(item) not in docker_access_only]
