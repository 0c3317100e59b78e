"""Certificate renewal: a host certificate inside its renewal window (pki_cert_renew_days) is re-signed by
site.yml, installed, and taken up by a reload of mosquitto (SIGHUP): same process, connected clients stay, new
TLS handshakes get the new certificate. The short-lived certificate is signed here with the scenario's CA."""

import datetime
import pathlib
import socket
import ssl
import time

from cluster import project_playbook, run_playbook
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from mqttcheck import Client, wait_until

HOST = "mha-broker2"
PKI_DIR = "/etc/mosquitto-ha/pki"


def _site(*extra):
    playbook = project_playbook("site.yml")
    return run_playbook(playbook, "--limit", HOST, *extra)


def _main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value mosquitto"))


def _served_certificate(cluster, address, cafile=None):
    """The certificate the broker presents in a new TLS handshake."""
    context = ssl.create_default_context(cafile=cafile or cluster.cafile)
    context.check_hostname = False
    with socket.create_connection((address, cluster.broker_port), timeout=10) as sock, \
            context.wrap_socket(sock) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _not_after(cert):
    return cert.not_valid_after_utc if hasattr(cert, "not_valid_after_utc") else \
        cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _short_lived_copy(cluster, current, days):
    """The host's certificate (same key, subject and extensions) re-signed by the cluster CA for `days` days."""
    pki = pathlib.Path(cluster.cafile).parent
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(current.subject).issuer_name(ca_cert.subject)
               .public_key(current.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=days)))
    for extension in current.extensions:  # the authority key id too: the same CA signs it
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca_key, hashes.SHA256())


def test_certificate_in_renewal_window_is_renewed_by_a_reload(cluster):
    host = cluster.host(HOST)
    address = cluster.brokers[HOST]
    path = f"{PKI_DIR}/{HOST}.crt"
    current = x509.load_pem_x509_certificate(host.file(path).content_string.encode())
    short = _short_lived_copy(cluster, current, days=3)
    pem = short.public_bytes(serialization.Encoding.PEM).decode()
    host.run_expect([0], f"printf '%s' '{pem}' > {path}")
    host.run_expect([0], "systemctl reload mosquitto")
    assert wait_until(lambda: _served_certificate(cluster, address).serial_number == short.serial_number, 10), \
        "the broker does not serve the short-lived certificate after a reload"

    pid = _main_pid(host)
    connected = cluster.client(address, cluster.broker_port).connect()
    try:
        rc, output, recap = _site()
        assert rc == 0, output[-3000:]
        assert recap[HOST]["changed"] >= 1, output[-3000:]
        assert "RUNNING HANDLER [mosquitto_ha.cluster.broker : Reload mosquitto]" in output, output[-3000:]
        assert "RUNNING HANDLER [mosquitto_ha.cluster.broker : Restart mosquitto]" not in output, output[-3000:]

        renewed = x509.load_pem_x509_certificate(host.file(path).content_string.encode())
        days_left = (_not_after(renewed) - datetime.datetime.now(datetime.timezone.utc)).days
        assert renewed.serial_number != short.serial_number
        assert days_left > 30, f"the renewed certificate expires in {days_left} days"
        assert renewed.public_key().public_numbers() == current.public_key().public_numbers(), "key changed"
        assert renewed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == \
            current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        served = _served_certificate(cluster, address)
        assert served.serial_number == renewed.serial_number, "new handshakes do not get the renewed certificate"
        assert _main_pid(host) == pid, "mosquitto was restarted, not reloaded"
        time.sleep(1)
        assert connected.mqtt.is_connected(), "a connected client was dropped by the renewal"
        topic = "renewal/check"
        connected.subscribe(topic)
        connected.publish(topic, ["after-renewal"])
        assert wait_until(lambda: connected.received(topic), 10), "the connection stopped working"
    finally:
        connected.close()

    rc, output, recap = _site()
    assert rc == 0, output[-3000:]
    assert recap[HOST]["changed"] == 0, f"a second run still changed something\n{output[-3000:]}"


def _new_ca(directory):
    """A second CA (certificate and key files in directory), as an operator would make for a rotation."""
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "molecule rotated CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "new-ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "new-ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    (directory / "new-ca.key").chmod(0o600)
    return cert


def _cross_broker_delivery(cluster, cafile, topic):
    """A message published at the first broker reaches a subscriber at HOST: the bridge master links both."""
    first = next(name for name in cluster.brokers if name != HOST)
    subscriber = Client(cluster.brokers[HOST], cluster.broker_port, cafile, username=cluster.username,
                        password=cluster.password)
    subscriber.connect().subscribe(topic)
    publisher = cluster.client(cluster.brokers[first]).connect()
    try:
        return wait_until(lambda: publisher.publish(topic, ["rotation"]) and subscriber.received(topic), 30, 1)
    finally:
        publisher.close()
        subscriber.close()


def test_ca_rotation_with_an_overlap(cluster, tmp_path):
    """docs/certificates.md's sequence on a broker and the bridge master: trust both CAs, sign with the new one
    (the bridge keeps working, clients with both CAs connect), then back to the scenario's CA alone."""
    import json  # noqa: PLC0415

    limit = f"{HOST},{','.join(cluster.bridge)}"
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_bytes(pathlib.Path(cluster.cafile).read_bytes())
    new_ca = _new_ca(tmp_path)
    both = tmp_path / "both.crt"
    both.write_text(old_ca.read_text() + (tmp_path / "new-ca.crt").read_text())
    host = cluster.host(HOST)
    original_bundle = host.file(f"{PKI_DIR}/ca.crt").content_string

    def site(**values):
        playbook = project_playbook("site.yml")
        rc, output, _recap = run_playbook(playbook, "--limit", limit, "-e", json.dumps(values))
        assert rc == 0, output[-3000:]

    try:
        # 1. Trust both.
        site(pki_extra_ca_certs=[str(tmp_path / "new-ca.crt")])
        assert host.file(f"{PKI_DIR}/ca.crt").content_string.count("BEGIN CERTIFICATE") == 2
        # 2. Sign with the new CA; the old one stays trusted.
        site(pki_ca_cert_path=str(tmp_path / "new-ca.crt"), pki_ca_key_path=str(tmp_path / "new-ca.key"),
             pki_extra_ca_certs=[str(old_ca)])
        served = _served_certificate(cluster, cluster.brokers[HOST], str(both))
        assert served.issuer == new_ca.subject, f"{HOST} still serves a certificate of {served.issuer}"
        assert _cross_broker_delivery(cluster, str(both), "rotation/new"), \
            "no message crossed the bridge to the broker with the new CA's certificate"
    finally:
        # 4. Back to the scenario's CA alone (as dropping the old CA would, in the other direction).
        site()
    assert host.file(f"{PKI_DIR}/ca.crt").content_string == original_bundle
    served = _served_certificate(cluster, cluster.brokers[HOST])
    assert served.issuer != new_ca.subject
    assert _cross_broker_delivery(cluster, cluster.cafile, "rotation/back"), "the bridge did not recover"


def test_a_load_balancer_host_key_and_certificate_are_removed(cluster):
    """A load balancer set up by an older version holds a host key and certificate it never used: site.yml removes
    them (and only them), and a second run changes nothing."""
    lb = list(cluster.loadbalancers)[0]
    host = cluster.host(lb)
    host.run_expect([0], f"cp {PKI_DIR}/ca.crt {PKI_DIR}/{lb}.crt && install -m 0600 /dev/null {PKI_DIR}/{lb}.key")
    playbook = project_playbook("site.yml")
    rc, output, recap = run_playbook(playbook, "--limit", lb, "--tags", "loadbalancer_pki")
    assert rc == 0, output[-3000:]
    assert recap[lb]["changed"] >= 1, output[-3000:]
    assert host.check_output(f"ls -A {PKI_DIR}") == "ca.crt"
    rc, output, recap = run_playbook(playbook, "--limit", lb, "--tags", "loadbalancer_pki")
    assert rc == 0, output[-3000:]
    assert recap[lb]["changed"] == 0, output[-3000:]
