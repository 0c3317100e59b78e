"""The built collection tarball holds what users of the installed collection need, and nothing that needs this
repository's lab, test harness or undeclared collections."""

import pathlib
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
ROLES = ["bridge", "broker", "cluster", "loadbalancer", "metrics", "pki", "status", "upgrade", "vip", "watchdog"]

MUST_HAVE = [
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "meta/runtime.yml", "changelogs/changelog.yaml",
    "docs/operations.md", "docs/architecture.md", "docs/security.md", "BENCHMARKS.md",
    "docs/certificates.md", "docs/monitoring.md", "docs/uninstall.md",
    "playbooks/site.yml", "playbooks/preflight.yml", "playbooks/add_broker.yml", "playbooks/remove_broker.yml",
    "playbooks/status.yml", "playbooks/uninstall.yml", "playbooks/upgrade.yml", "docs/upgrade.md",
    "roles/loadbalancer/tasks/drain.yml",
    "roles/metrics/files/prometheus-alerts.yml", "roles/metrics/files/grafana-dashboard.json",
    "plugins/modules/mosquitto_password.py", "plugins/filter/topology.py", "plugins/filter/status.py",
    "inventories/example/hosts.yml", "inventories/example/group_vars/all.yml",
    *(f"roles/{role}/{part}" for role in ROLES for part in ("tasks/main.yml", "meta/argument_specs.yml")),
]
# Development, test and lab material: a path starting with one of these must not be in the tarball.
MUST_NOT_HAVE = [
    "bench/", "molecule/", "scripts/", "tests/", "inventories/lab/", ".config/", ".ci/", ".venv/", ".collections/",
    "Makefile", "ansible.cfg", "requirements.txt", ".ansible-lint", ".yamllint", ".gitignore",
    "site.yml", "add-broker.yml", "remove-broker.yml", "status.yml", "uninstall.yml", "upgrade.yml",
    # Developer docs: the loop and the test suite of this repository, of no use to the installed collection.
    "CONTRIBUTING.md", "docs/development.md",
]
# Collections the installed collection may use: itself, ansible.builtin and its declared dependencies.
ALLOWED_COLLECTIONS = {"mosquitto_ha.cluster", "ansible.builtin", *GALAXY["dependencies"]}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    galaxy = pathlib.Path(sys.executable).with_name("ansible-galaxy")
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    (path,) = out.glob("*.tar.gz")
    with tarfile.open(path) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def test_tarball_is_named_for_the_collection_version(tarball):
    manifest = yaml.safe_load(tarball["MANIFEST.json"])
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("mosquitto_ha", "cluster", GALAXY["version"])


@pytest.mark.parametrize("path", MUST_HAVE)
def test_tarball_has_what_users_need(tarball, path):
    assert path in tarball, sorted(tarball)


@pytest.mark.parametrize("prefix", MUST_NOT_HAVE)
def test_tarball_leaves_out_development_material(tarball, prefix):
    found = [name for name in tarball if name == prefix.rstrip("/") or name.startswith(prefix)]
    assert not found, found


def test_tarball_has_no_generated_secrets(tarball):
    found = [name for name in tarball if ".mosquitto-ha" in name.split("/") or name.endswith((".key", ".tar.gz"))]
    assert not found, found


def test_tarball_uses_only_declared_collections(tarball):
    used = {}
    for name, content in tarball.items():
        if content is None or not name.endswith((".yml", ".yaml", ".j2", ".py", ".md")):
            continue
        text = content.decode("utf-8", errors="replace")
        for match in re.finditer(r"\b((?:community|ansible|mosquitto_ha)\.[a-z_]+)\.[a-z_]+", text):
            if match.group(1) not in ("ansible.module_utils", "ansible.errors", "ansible.plugins"):
                used.setdefault(match.group(1), set()).add(name)
    undeclared = {c: sorted(files) for c, files in used.items() if c not in ALLOWED_COLLECTIONS}
    assert not undeclared, f"collections not in galaxy.yml dependencies: {undeclared}"
