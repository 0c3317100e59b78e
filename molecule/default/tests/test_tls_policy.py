"""The TLS policy of the brokers' listeners, seen through the VIP.

nginx passes the TLS stream through (it holds no certificate), so the handshake a client makes with the VIP is the
one with the broker behind it: TLS 1.2 at least (broker_tls_version) and, for TLS 1.2, AEAD ciphers with ECDHE
only (broker_tls_ciphers); TLS 1.3 with its AEAD suites (broker_tls_ciphers_tls13).

Each refusal has a control: the same client context completes a handshake with a permissive TLS server on loopback
(EC and RSA certificates, every protocol version and cipher), so a refusal is the cluster's doing, not a client that
could not offer what the test meant it to offer.
"""

import contextlib
import datetime
import socket
import ssl
import threading
import warnings

import pytest

# The defaults of broker_tls_ciphers / broker_tls_ciphers_tls13, as OpenSSL names them.
TLS12_POLICY = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"}
TLS13_POLICY = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
TIMEOUT = 10


def _self_signed(directory, kind):
    """A self-signed server certificate and key (kind 'ec' or 'rsa') for the loopback control server."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tls-policy-control-{kind}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    crt, pem = directory / f"{kind}.crt", directory / f"{kind}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return str(crt), str(pem)


@pytest.fixture(scope="module")
def control_server(tmp_path_factory):
    """A TLS server on 127.0.0.1 that accepts TLS 1.1 to 1.3 and every cipher; returns its port."""
    directory = tmp_path_factory.mktemp("tls-control")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    for kind in ("ec", "rsa"):
        context.load_cert_chain(*_self_signed(directory, kind))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _peer = listener.accept()
            except (socket.timeout, OSError):
                continue
            with contextlib.suppress(OSError, ssl.SSLError):
                conn.settimeout(TIMEOUT)
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _client(version, ciphers=None):
    """A client context offering exactly one protocol version (and, if given, only these TLS 1.2 ciphers).
    It verifies nothing: what is refused here is refused before any certificate is looked at."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = version
        context.maximum_version = version
    # Security level 0: the local OpenSSL would otherwise not offer TLS 1.1 or SHA-1 ciphers at all.
    context.set_ciphers(f"{ciphers or 'DEFAULT'}:@SECLEVEL=0")
    return context


def _handshake(context, host, port, server_hostname=None):
    """(protocol version, cipher name) of a completed handshake."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        with context.wrap_socket(sock, server_hostname=server_hostname) as tls:
            return tls.version(), tls.cipher()[0]


def _refused(context, host, port):
    """The error of a handshake that must fail; fails the test when it completes."""
    try:
        result = _handshake(context, host, port)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        return exc
    raise AssertionError(f"{host}:{port} completed the handshake: {result}")


CASES = {
    # TLS 1.1 with any cipher: below broker_tls_version.
    "TLS 1.1": (ssl.TLSVersion.TLSv1_1, None, "TLSv1.1"),
    # TLS 1.2, CBC with SHA-1 MAC: forward-secret ECDHE with the ECDSA key the brokers have (pki_key_type ECC);
    # OpenSSL's and mosquitto's default lists accept it, the AEAD-only policy does not.
    "TLS 1.2 ECDHE-ECDSA-AES128-SHA": (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA", "TLSv1.2"),
    # TLS 1.2, CBC with SHA-256 MAC.
    "TLS 1.2 ECDHE-ECDSA-AES128-SHA256": (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA256", "TLSv1.2"),
    # TLS 1.2, static RSA key exchange, CBC with SHA-1 MAC.
    "TLS 1.2 AES128-SHA": (ssl.TLSVersion.TLSv1_2, "AES128-SHA", "TLSv1.2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_outdated_tls_is_refused_through_the_vip(cluster, control_server, case):
    version, ciphers, expected_version = CASES[case]
    context = _client(version, ciphers)
    # Control: the client really offers this version and cipher (a permissive server completes the handshake).
    control = _handshake(context, "127.0.0.1", control_server)
    assert control[0] == expected_version, control
    if ciphers:
        assert control[1] == ciphers, control
    # The cluster refuses it during the handshake.
    error = _refused(context, cluster.vip, cluster.port)
    print(f"{case}: refused through the VIP ({error.__class__.__name__}: {error})")
    # The broker's alert, relayed by nginx: protocol version for TLS 1.1, handshake failure for no shared cipher.
    alert = "protocol version" if version == ssl.TLSVersion.TLSv1_1 else "handshake failure"
    assert isinstance(error, ssl.SSLError) and alert in str(error).lower(), error
    # The VIP answers: a default client completes its handshake right after.
    assert _handshake(ssl.create_default_context(cafile=cluster.cafile), cluster.vip, cluster.port,
                      server_hostname=cluster.vip)


def test_default_client_gets_tls13_with_a_policy_suite(cluster):
    context = ssl.create_default_context(cafile=cluster.cafile)
    version, cipher = _handshake(context, cluster.vip, cluster.port, server_hostname=cluster.vip)
    print(f"default client through the VIP: {version} {cipher}")
    assert version == "TLSv1.3" and cipher in TLS13_POLICY, (version, cipher)


def test_tls12_client_gets_an_aead_cipher_of_the_policy(cluster):
    context = ssl.create_default_context(cafile=cluster.cafile)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher = _handshake(context, cluster.vip, cluster.port, server_hostname=cluster.vip)
    print(f"TLS 1.2 client through the VIP: {version} {cipher}")
    assert version == "TLSv1.2" and cipher in TLS12_POLICY, (version, cipher)


def test_default_mqtt_client_connects_through_the_vip(cluster):
    """paho with the default TLS settings (and the cluster CA) logs in and gets its own message back."""
    client = cluster.client(cluster.vip, cluster.port).connect()
    try:
        topic = f"e2e/tls-policy/{client.client_id}"
        client.subscribe(topic)
        client.publish(topic, ["tls-policy"])
        from mqttcheck import wait_until  # noqa: PLC0415

        assert wait_until(lambda: client.received(topic) == ["tls-policy"], 10), client.received(topic)
    finally:
        client.close()
