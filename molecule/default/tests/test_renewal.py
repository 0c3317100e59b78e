"""Certificate renewal: a host certificate inside its renewal window (pki_cert_renew_days) is re-signed by
site.yml, installed, and taken up by a reload of mosquitto (SIGHUP): same process, connected clients stay, new
TLS handshakes get the new certificate. The short-lived certificate is signed here with the scenario's CA."""

import datetime
import os
import pathlib
import socket
import ssl
import time

from cluster import run_playbook
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from mqttcheck import wait_until

HOST = "mha-broker2"
PKI_DIR = "/etc/mosquitto-ha/pki"


def _site(*extra):
    playbook = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "playbooks", "site.yml")
    return run_playbook(playbook, "--limit", HOST, *extra)


def _main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value mosquitto"))


def _served_certificate(cluster, address):
    """The certificate the broker presents in a new TLS handshake."""
    context = ssl.create_default_context(cafile=cluster.cafile)
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
