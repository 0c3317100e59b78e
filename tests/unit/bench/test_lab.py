"""bench/lab.py reads the lab's names and addresses from scripts/lab.env, the file scripts/lab.sh sources; the lab
inventory agrees with it."""

import ipaddress
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import lab  # noqa: E402


def test_the_shell_and_python_read_the_same_values():
    script = ". scripts/lab.env; printf '%s\\n' \"$LAB_NETWORK\" \"$LAB_VIP\" \"$LAB_PORT\" \"$LAB_NODES\""
    out = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    network, vip, port, nodes = out.splitlines()
    assert (network, vip, int(port)) == (lab.NETWORK, lab.VIP, lab.PORT)
    assert lab.nodes(nodes) == lab.NODES
    assert list(lab.BROKERS) == ["mqttlab-broker1", "mqttlab-broker2"]
    assert lab.BRIDGE == ("mqttlab-bridge", "172.29.60.21")


def test_every_address_is_in_the_subnet_and_unique():
    subnet = ipaddress.ip_network(lab.SUBNET)
    addresses = [lab.VIP, *lab.NODES.values(), *lab.SPARE_BROKERS.values(), lab.SPARE_BRIDGE[1]]
    assert all(ipaddress.ip_address(a) in subnet for a in addresses), addresses
    assert len(set(addresses)) == len(addresses)


def test_the_lab_inventory_names_the_same_nodes_and_vip():
    inventory = yaml.safe_load((ROOT / "inventories" / "lab" / "hosts.yml").read_text())
    hosts = [h for group in inventory["all"]["children"].values() for h in group["hosts"]]
    assert sorted(hosts) == sorted(lab.NODES)
    group_vars = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all.yml").read_text())
    assert group_vars["cluster_vip"] == lab.VIP


def test_read_env_unquotes_and_skips_comments(tmp_path):
    env = tmp_path / "lab.env"
    env.write_text('# comment\n\nA=x\nB="y=1 z=2"\n')
    assert lab.read_env(env) == {"A": "x", "B": "y=1 z=2"}
    assert lab.nodes("y=1 z=2") == {"y": "1", "z": "2"}
