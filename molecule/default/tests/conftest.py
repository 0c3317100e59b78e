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
    "test_check_mode.py",
    "test_hosts.py",
    "test_large_window.py",
    "test_mqtt.py",
    "test_security.py",
    "test_security_reload.py",
    "test_tls_policy.py",
    "test_renewal.py",
    "test_rolling_restart.py",  # restarts every broker
    "test_upgrade.py",  # restarts every daemon of every node
    "test_status.py",  # needs a healthy cluster: the last of the non-destructive tests
    "test_metrics.py",  # stops a broker for a while and brings it back
    "test_vip.py",  # destructive from here on: takes the VIP holder down
    "test_watchdog.py",  # hangs mosquitto, kills nginx, hangs the watchdog
    "test_uninstall.py",  # removes the cluster: always last
]
# Operations playbook runs (renewal, rolling restart, upgrade, status, uninstall) and the metrics endpoints, which do
# not depend on the access path (they use molecule's docker inventory in both runs): the docker-access run (Debian
# 12) has them, the operator's-path run (Debian 13, ssh) leaves them out to keep CI within its time. Run them on
# Debian 13 with `make molecule MOLECULE_RUNS=default:trixie`.
DOCKER_ACCESS_ONLY = ("test_renewal.py", "test_rolling_restart.py", "test_upgrade.py", "test_status.py",
                      "test_metrics.py", "test_uninstall.py")


def pytest_collection_modifyitems(config, items):
    order(items, TEST_ORDER, pathlib.Path(__file__).parent, config, DOCKER_ACCESS_ONLY)


def _make_cert(directory, name, common_name, issuer_cert=None, issuer_key=None, ca=False):
    """Write <name>.crt and <name>.key (EC P-256) into directory; self-signed when no issuer is given."""
    import datetime  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    crt, pem_key = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    pem_key.chmod(0o600)
    return cert, key, str(crt), str(pem_key)


@pytest.fixture(scope="session")
def client_certs(cluster, tmp_path_factory):
    """Client certificates for the test user: one signed by the cluster CA, one by a foreign CA with the same
    names. Returns {"cluster": (certfile, keyfile), "foreign": (certfile, keyfile)}."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    directory = tmp_path_factory.mktemp("client-certs")
    ca_dir = pathlib.Path(cluster.cafile).parent
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    foreign_cert, foreign_key, _unused, _unused = _make_cert(directory, "foreign-ca",
                                                             ca_cert.subject.rfc4514_string()[3:], ca=True)
    _unused, _unused, crt, key = _make_cert(directory, "cluster-client", cluster.username, ca_cert, ca_key)
    _unused, _unused, fcrt, fkey = _make_cert(directory, "foreign-client", cluster.username, foreign_cert, foreign_key)
    return {"cluster": (crt, key), "foreign": (fcrt, fkey)}
