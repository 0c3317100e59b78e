"""The lab's names and addresses, read from scripts/lab.env, the file scripts/lab.sh sources; where its
inventory and generated secrets are; how a playbook is run on it."""

import os
import pathlib
import re
import shlex
import subprocess
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "scripts" / "lab.env"
INVENTORY = ROOT / "inventories" / "lab"
SECRETS = INVENTORY / ".mosquitto-ha"
CAFILE = SECRETS / "pki" / "ca.crt"
PASSWORD_FILE = SECRETS / "lab_mqtt_password"  # generated on the first lab run


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


def group_vars(inventory=INVENTORY):
    """The lab inventory's group_vars/all.yml (cluster_vip, lab_mqtt_username, ...)."""
    return yaml.safe_load((pathlib.Path(inventory) / "group_vars" / "all.yml").read_text(encoding="utf-8"))


def credentials():
    """The lab's MQTT user: its name from the inventory, its password from the file the first lab run wrote."""
    return {"username": group_vars()["lab_mqtt_username"], "password": PASSWORD_FILE.read_text().strip()}


def playbook_command(name, inventory=INVENTORY, *extra):
    """(argv, env) of ansible-playbook running playbooks/<name> with the checkout's venv and collections."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1")
    argv = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / name),
            *extra]
    return argv, env


def playbook(name, inventory=INVENTORY, *extra, timeout=1800, profile=None):
    """Run a playbook on the lab; (seconds, changed summed over the recap). RuntimeError when it fails. With a list
    as profile, the run times its tasks (ansible.posix.profile_tasks) and the list gets [task, seconds] of the
    slowest ones, slowest first."""
    argv, env = playbook_command(name, inventory, *extra)
    if profile is not None:
        env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="10")
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout, env=env, cwd=ROOT)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(extra)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-2000:]}")
    if profile is not None:
        profile[:] = slowest_tasks(proc.stdout)
    return seconds, sum(int(c) for c in re.findall(r"changed=(\d+)", proc.stdout))


def slowest_tasks(output):
    """[task, seconds] of profile_tasks' recap at the end of a playbook's output, slowest first."""
    recap = output.split("TASKS RECAP", 1)[-1] if "TASKS RECAP" in output else ""
    found = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", recap, flags=re.MULTILINE)
    return [[task.strip(), float(seconds)] for task, seconds in found]
