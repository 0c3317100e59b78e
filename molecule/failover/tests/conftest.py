import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "e2e"))

from cluster import load_cluster  # noqa: E402
from testorder import order  # noqa: E402


@pytest.fixture(scope="session")
def cluster():
    return load_cluster()


# The order of this scenario's test files. Every test file must be listed: an unlisted one stops the run
# (tests/e2e/testorder.py).
TEST_ORDER = [
    "test_upgrade.py",  # needs the healthy cluster of the converge; leaves it healthy (its last test checks)
    "test_vrrp_settings.py",  # switches the VRRP settings of both load balancers and back; leaves the VIP in place
    "test_failover.py",
]


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    order(items, TEST_ORDER, pathlib.Path(__file__).parent)
