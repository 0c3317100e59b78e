import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "e2e"))

from cluster import load_cluster  # noqa: E402


@pytest.fixture(scope="session")
def cluster():
    return load_cluster()
