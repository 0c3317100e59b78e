"""The lab's names and addresses, read from scripts/lab.env, the file scripts/lab.sh sources."""

import pathlib
import shlex

ENV_FILE = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "lab.env"


def read_env(path=ENV_FILE):
    """KEY=value lines of `path` (comments and blank lines skipped; values unquoted as the shell does)."""
    values = {}
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _unused, value = line.partition("=")
            values[key] = " ".join(shlex.split(value))
    return values


def nodes(value):
    """{"name": "address", ...} of a "name=address name=address" list, in its order."""
    return dict(pair.split("=", 1) for pair in value.split())


_ENV = read_env()
NETWORK = _ENV["LAB_NETWORK"]
SUBNET = _ENV["LAB_SUBNET"]
VIP = _ENV["LAB_VIP"]
PORT = int(_ENV["LAB_PORT"])
NODES = nodes(_ENV["LAB_NODES"])
BROKERS = {name: address for name, address in NODES.items() if "-broker" in name}
BRIDGE = next((name, address) for name, address in NODES.items() if name.endswith("-bridge"))
SPARE_BROKERS = nodes(_ENV["LAB_SPARE_BROKERS"])
SPARE_BRIDGE = next(iter(nodes(_ENV["LAB_SPARE_BRIDGE"]).items()))
