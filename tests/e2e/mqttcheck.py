"""End-to-end MQTT checks against a mosquitto_ha cluster, with paho-mqtt over verified TLS.

Used by the molecule verifiers and by the lab's smoke check (`python tests/e2e/mqttcheck.py --help`).
Every wait here is bounded; nothing loops forever.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import ssl
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate until it is true or timeout seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Client:
    """A paho client that records what it receives, connected with TLS verified against cafile."""

    def __init__(self, host, port, cafile, client_id=None, clean_session=True, keepalive=30,
                 username=None, password=None, certfile=None, keyfile=None):
        self.host, self.port = host, port
        self.client_id = client_id or f"e2e-{uuid.uuid4().hex[:12]}"
        self.messages = collections.defaultdict(list)  # topic -> [payload, ...]
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.connect_result = None
        self.subscribed = {}
        self.mqtt = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            self.mqtt.username_pw_set(username, password)
        if cafile is not None:
            self.mqtt.tls_set(ca_certs=cafile, certfile=certfile, keyfile=keyfile, cert_reqs=ssl.CERT_REQUIRED,
                              tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = self._on_message
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.max_inflight_messages_set(100)
        self.keepalive = keepalive

    def _on_connect(self, _client, _userdata, flags, reason_code, _properties):
        self.connect_result = (reason_code, flags)
        if not reason_code.is_failure:
            self.connected.set()

    def _on_message(self, _client, _userdata, msg):
        with self.lock:
            self.messages[msg.topic].append(msg.payload.decode())

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties):
        self.subscribed[mid] = reason_codes

    def connect(self, timeout=15):
        self.mqtt.connect(self.host, self.port, keepalive=self.keepalive)
        self.mqtt.loop_start()
        if not self.connected.wait(timeout):
            self.close()
            raise TimeoutError(f"no CONNACK from {self.host}:{self.port} within {timeout}s ({self.connect_result})")
        return self

    def subscribe(self, topic, qos=1, timeout=10):
        result, mid = self.mqtt.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"subscribe to {topic} failed: {result}")
        if not wait_until(lambda: mid in self.subscribed, timeout):
            raise TimeoutError(f"no SUBACK for {topic} from {self.host}:{self.port}")
        codes = self.subscribed[mid]
        if any(code.is_failure for code in codes):
            raise RuntimeError(f"subscription to {topic} refused: {codes}")
        return self

    def publish(self, topic, payloads, qos=1, timeout=30):
        """Publish each payload and wait until every one is acknowledged (QoS 1/2)."""
        infos = [self.mqtt.publish(topic, str(p), qos=qos) for p in payloads]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"publish to {topic} via {self.host}:{self.port} not acknowledged in {timeout}s")
        return self

    def received(self, topic):
        with self.lock:
            return list(self.messages.get(topic, []))

    def close(self):
        try:
            self.mqtt.disconnect()
        finally:
            self.mqtt.loop_stop()


def counts(payloads):
    return collections.Counter(payloads)


def wait_for_bridging(publisher, subscribers, topic, timeout=60):
    """Publish probe messages via publisher until every subscriber has seen one (bridges are up)."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        publisher.publish(topic, [f"probe-{n}"], qos=1)
        n += 1
        if wait_until(lambda: all(s.received(topic) for s in subscribers), 1.0):
            return True
    missing = [f"{s.host}:{s.port}" for s in subscribers if not s.received(topic)]
    raise TimeoutError(f"bridged delivery to {', '.join(missing)} did not start within {timeout}s")


def plaintext_refused(host, port, timeout=5):
    """Speak plain MQTT to a TLS port: return True when no CONNACK comes back."""
    connect = bytes([0x10, 0x12, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x1E, 0x00, 0x06]) + b"plain1"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(connect)
            try:
                reply = sock.recv(4)
            except (socket.timeout, ConnectionResetError):
                return True
    except ConnectionRefusedError:
        return True
    return not reply.startswith(b"\x20")


def untrusted_tls_refused(host, port, timeout=5):
    """A client that trusts only the system CAs (not the cluster CA) must fail certificate verification."""
    context = ssl.create_default_context()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return False
    except ssl.SSLCertVerificationError:
        return True


def smoke(vip, port, cafile, brokers, messages=10, username=None, password=None):
    """Publish through the VIP; every broker's subscriber must get every message exactly once."""
    topic = f"smoke/{uuid.uuid4().hex[:8]}"
    creds = {"username": username, "password": password}
    subs = [Client(b, bport, cafile, **creds).connect() for b, bport in brokers]
    try:
        for s in subs:
            s.subscribe(topic + "/#", qos=1)
        pub = Client(vip, port, cafile, **creds).connect()
        try:
            wait_for_bridging(pub, subs, topic + "/probe")
            payloads = [str(i) for i in range(messages)]
            pub.publish(topic + "/data", payloads, qos=1)
            wait_until(lambda: all(len(s.received(topic + "/data")) >= messages for s in subs), 30)
            time.sleep(0.5)  # let any duplicate arrive before counting
        finally:
            pub.close()
        report = {}
        for s in subs:
            got = counts(s.received(topic + "/data"))
            report[f"{s.host}:{s.port}"] = (sum(got.values()), sorted(got) == sorted(payloads) and max(got.values()) == 1)
        return report
    finally:
        for s in subs:
            s.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Smoke-check a mosquitto_ha cluster through its VIP.")
    parser.add_argument("--vip", required=True)
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--broker", action="append", required=True, help="HOST[:PORT] of a broker; repeat")
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--username", help="MQTT user (brokers refuse anonymous clients)")
    parser.add_argument("--password", help="its password; default: the environment variable MQTT_PASSWORD")
    args = parser.parse_args(argv)
    password = args.password if args.password is not None else os.environ.get("MQTT_PASSWORD")
    brokers = []
    for b in args.broker:
        host, _unused, bport = b.partition(":")
        brokers.append((host, int(bport or 8883)))
    report = smoke(args.vip, args.port, args.cafile, brokers, args.messages, args.username, password)
    ok = True
    for broker, (n, exact) in report.items():
        print(f"  {broker}: received {n}/{args.messages} {'exactly once' if exact else 'NOT exactly once'}")
        ok = ok and exact
    print(f"smoke check through {args.vip}:{args.port}: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
