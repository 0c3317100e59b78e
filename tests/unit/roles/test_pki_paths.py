"""The host's CA, certificate and key paths have one definition: the pki_files filter.

A role that joins cluster_pki_dir with a file name itself would drift from the files the pki role writes; every
role reads them through `cluster_pki_dir | mosquitto_ha.cluster.pki_files(inventory_hostname)`.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[3]
# cluster_pki_dir (or a role's copy of it) followed by a path separator or a join: a path built by hand.
BUILT = re.compile(r"(cluster_pki_dir|__\w+_pki_dir)\s*(}}\s*/|~\s*'/')")


def _role_files():
    for path in sorted((ROOT / "roles").rglob("*")):
        if path.suffix in {".yml", ".j2", ".py", ".sh"} and path.is_file():
            yield path


def test_no_role_builds_a_pki_path_itself():
    offenders = []
    for path in _role_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BUILT.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use the pki_files filter:\n" + "\n".join(offenders)


def test_the_check_finds_a_path_built_by_hand():
    assert BUILT.search('__x_cert: "{{ cluster_pki_dir }}/{{ inventory_hostname }}.crt"')
    assert BUILT.search("'certfile': cluster_pki_dir ~ '/' ~ inventory_hostname ~ '.crt',")
    assert not BUILT.search('__x: "{{ cluster_pki_dir | mosquitto_ha.cluster.pki_files(inventory_hostname) }}"')


def test_every_role_reading_host_certificates_uses_the_filter():
    users = {p.parts[-3] for p in _role_files() if "mosquitto_ha.cluster.pki_files(" in p.read_text()}
    assert {"pki", "broker", "bridge", "status", "watchdog"} <= users, users
