"""Minimal MQTT 3.1.1 packets, standard library only: for probes and load generators that speak MQTT over a raw
(TLS) socket without a client library (tests/e2e/faults.py, bench/connload.py)."""

from __future__ import annotations

import struct


def remaining_length(n):
    """MQTT's variable-length encoding of a packet's remaining length."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(value):
    """An MQTT UTF-8 string: two length bytes, then the bytes."""
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id, username=None, password=None, keepalive=10):
    """CONNECT with clean session, and the user name and password when given."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = string("MQTT") + bytes([0x04, flags]) + struct.pack("!H", keepalive) + string(client_id)
    if username is not None:
        body += string(username)
    if password is not None:
        body += string(password)
    return bytes([0x10]) + remaining_length(len(body)) + body


def publish_packet(topic, payload, packet_id=1):
    """PUBLISH at QoS 1."""
    body = string(topic) + struct.pack("!H", packet_id) + payload
    return bytes([0x32]) + remaining_length(len(body)) + body
