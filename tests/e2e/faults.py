"""Fault injection under load for a mosquitto_ha cluster running in docker containers.

Used by the `failover` molecule scenario (molecule/failover/tests/test_failover.py) and by the benchmarks
(bench/run.py, failover figures). One run of `inject()`:

  * a QoS 1 stream publishes through the VIP (persistent session, client id fixed for the run), and a
    persistent QoS 1 subscriber connected straight to *another* broker than the one the VIP sends the
    publisher to counts what arrives;
  * cross-probes publish a timestamped QoS 0 message on every broker every `probe_interval` s, and a
    subscriber on every broker records which arrive, so the time until cross-broker delivery works again
    can be read off;
  * a VIP probe opens a fresh TLS MQTT connection through the VIP and publishes one QoS 1 message every
    `probe_interval` s; the first acknowledged one after the fault is the VIP (service) restoration time;
  * the fault is injected with `docker exec` / `docker kill|start|restart`, and a recovery probe tells when
    the faulted process serves again.

Every loop here is bounded in count and time. Traffic goes only to the test containers.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid

from mqttcheck import counts, wait_until
from mqttwire import connect_packet, publish_packet

# ---------------------------------------------------------------------------------------------------------
# Containers


def dexec(container, command, timeout=30, check=False):
    """Run a bash command in a container; return (returncode, stdout)."""
    proc = subprocess.run(["docker", "exec", container, "bash", "-c", command], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{container}: {command!r} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.returncode, proc.stdout.strip()


def docker(*args, timeout=120):
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def fault_in(container, command, stamp="after"):
    """Run a fault command in a container and return the moment it took effect, read from the container's
    own clock (host and containers share one kernel clock) and turned into this process's time.monotonic():
    right after the command (a kill), or right before it (a stop, which takes effect while it runs)."""
    stamped = f"{command} && date +%s.%N" if stamp == "after" else f"date +%s.%N && {command}"
    _unused, out = dexec(container, stamped, check=True)
    wall = float(out.splitlines()[0 if stamp == "before" else -1])
    return wall + (time.monotonic() - time.time())


def main_pid(container, unit):
    rc, out = dexec(container, f"systemctl show -p MainPID --value {unit}")
    return int(out) if rc == 0 and out.isdigit() else 0


def unit_active(container, unit):
    rc, out = dexec(container, f"systemctl is-active {unit}")
    return rc == 0 and out == "active"


def holds_address(container, address):
    rc, out = dexec(container, "ip -4 -o addr show dev eth0")
    return rc == 0 and f" {address}/" in out


def nginx_healthy(container, port=18883):
    rc, _unused = dexec(container, f"exec 3<>/dev/tcp/127.0.0.1/{port} && read -r -t 1 a <&3 && [ \"$a\" = ok ]",
                        timeout=5)
    return rc == 0


def journal(container, since, unit=None, tag=None):
    selector = f"-u {unit}" if unit else f"-t {tag}"
    return dexec(container, f"journalctl {selector} --since '{since}' --no-pager -o cat")[1]


def clock(container):
    return dexec(container, "date '+%Y-%m-%d %H:%M:%S'", check=True)[1]


# ---------------------------------------------------------------------------------------------------------
# A minimal MQTT 3.1.1 client over verified TLS, for probes that must not linger: connect, publish one QoS 1
# message, wait for PUBACK, disconnect, all within `timeout`.


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def mqtt_probe(host, port, cafile, username=None, password=None, timeout=1.0, topic=None):
    """Return None when the broker (or the VIP) accepted a CONNECT and, with a topic, acknowledged one QoS 1
    PUBLISH within timeout seconds; else the reason."""
    context = ssl.create_default_context(cafile=cafile)
    client_id = f"probe-{uuid.uuid4().hex[:10]}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(connect_packet(client_id, username, password))
                connack = _recv_exact(tls, 4)
                if connack[0] != 0x20 or connack[3] != 0:
                    return f"CONNACK {connack!r}"
                if topic:
                    tls.sendall(publish_packet(topic, b"probe"))
                    puback = _recv_exact(tls, 4)
                    if puback[0] != 0x40:
                        return f"no PUBACK ({puback!r})"
                tls.sendall(bytes([0xE0, 0x00]))
    except (OSError, ssl.SSLError, ConnectionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# ---------------------------------------------------------------------------------------------------------
# Load and measurement


class FirstSuccess(threading.Thread):
    """Calls check() every interval s from start until it returns true or the deadline passes; records when."""

    def __init__(self, check, interval=0.1, deadline_s=120.0):
        super().__init__(daemon=True)
        self.check, self.interval, self.deadline_s = check, interval, deadline_s
        self.started = None
        self.at = None
        self.attempts = 0

    def run(self):
        self.started = time.monotonic()
        while time.monotonic() - self.started < self.deadline_s:
            self.attempts += 1
            try:
                if self.check():
                    self.at = time.monotonic()
                    return
            except Exception:  # noqa: BLE001 (a probe that raises has simply not succeeded yet)
                pass
            time.sleep(self.interval)


class Prober(threading.Thread):
    """Runs probe() (None on success, else a reason) every interval s until stopped; records each attempt as
    (started, ended, ok)."""

    def __init__(self, probe, interval=0.1, limit_s=600.0):
        super().__init__(daemon=True)
        self.probe, self.interval, self.limit_s = probe, interval, limit_s
        self.attempts = []
        self.stop = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.limit_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            ok = self.probe() is None
            self.attempts.append((started, time.monotonic(), ok))
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def restored(self, since):
        """(fault -> first success after the first failure that ended after `since`, outage length), (0, 0)
        when no attempt ending after `since` failed, (None, None) when none succeeded after the failure."""
        attempts = [a for a in list(self.attempts) if a[1] >= since]
        failed = next((i for i, a in enumerate(attempts) if not a[2]), None)
        if failed is None:
            return (0.0, 0.0) if attempts else (None, None)
        ok = next((a for a in attempts[failed:] if a[2]), None)
        if ok is None:
            return None, None
        return ok[1] - since, ok[1] - max(since, attempts[failed][0])


class Stream(threading.Thread):
    """Publishes QoS 1 messages "0", "1", ... every interval s until stopped (at most limit, below paho's 65535
    message ids). A message published while the client is reconnecting is queued by paho and sent after the
    reconnect; acknowledgements are taken from on_publish (PUBACK received)."""

    def __init__(self, client, topic, interval=0.02, limit=20000):
        super().__init__(daemon=True)
        self.client, self.topic, self.interval, self.limit = client, topic, interval, limit
        self.sent = []  # (payload, mid)
        self.acked_mids = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        client.mqtt.on_publish = self._on_publish

    def _on_publish(self, _client, _userdata, mid, _reason_code, _properties):
        with self.lock:
            self.acked_mids.add(mid)

    def run(self):
        i = 0
        while not self.stop.is_set() and i < self.limit:
            info = self.client.mqtt.publish(self.topic, str(i), qos=1)
            self.sent.append((str(i), info.mid))
            i += 1
            time.sleep(self.interval)

    def acked(self):
        with self.lock:
            return [p for p, mid in self.sent if mid in self.acked_mids]


def _resilient(client, topic=None, qos=1, resubscribe="always"):
    """Fast reconnects; subscribe again after a reconnect (always, or only when the broker lost the session)."""
    client.mqtt.reconnect_delay_set(0.2, 1)
    client.sessions_lost = 0
    client.connects = 0
    original = client.mqtt.on_connect

    def on_connect(mqttc, userdata, flags, reason_code, properties):
        original(mqttc, userdata, flags, reason_code, properties)
        if reason_code.is_failure:
            return
        client.connects += 1
        if client.connects > 1 and not flags.session_present:
            client.sessions_lost += 1  # a reconnect to a broker that no longer knew this persistent session
        if topic and (resubscribe == "always" or not flags.session_present):
            mqttc.subscribe(topic, qos)

    client.mqtt.on_connect = on_connect
    return client


class CrossProbe:
    """A timestamped QoS 0 message published on every broker every interval s; a subscriber on every broker."""

    def __init__(self, make_client, brokers, topic, interval=0.1):
        self.brokers, self.topic, self.interval = brokers, topic, interval
        self.arrivals = []  # (arrival time, source broker, destination broker, sent time)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.subs, self.pubs = {}, {}
        for name, address in brokers.items():
            sub = _resilient(make_client(address), topic + "/+", qos=0)
            sub.mqtt.on_message = self._recorder(name)
            self.subs[name] = sub.connect()
            sub.subscribe(topic + "/+", qos=0)
            self.pubs[name] = _resilient(make_client(address)).connect()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _recorder(self, destination):
        def on_message(_client, _userdata, msg):
            source = msg.topic.rsplit("/", 1)[-1]
            sent = float(msg.payload.decode())
            with self.lock:
                self.arrivals.append((time.monotonic(), source, destination, sent))
        return on_message

    def _run(self):
        deadline = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < deadline:
            for name, pub in self.pubs.items():
                pub.mqtt.publish(f"{self.topic}/{name}", repr(time.monotonic()), qos=0)
            time.sleep(self.interval)

    def start(self):
        self.thread.start()
        return self

    def restored_at(self, since):
        """When every ordered pair of brokers had delivered a message sent after `since`, else None."""
        firsts = {}
        with self.lock:
            for arrived, source, destination, sent in self.arrivals:
                if source != destination and sent > since:
                    key = (source, destination)
                    firsts[key] = min(firsts.get(key, arrived), arrived)
        pairs = [(s, d) for s in self.brokers for d in self.brokers if s != d]
        if any(p not in firsts for p in pairs):
            return None
        return max(firsts[p] for p in pairs)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for c in list(self.pubs.values()) + list(self.subs.values()):
            c.close()


@dataclasses.dataclass
class Result:
    fault: str
    target: str
    recovery_s: float | None = None      # fault -> the faulted process (or node) serves again
    vip_s: float | None = None           # fault -> first QoS 1 publish acknowledged through the VIP again
    vip_outage_s: float | None = None    # first failed to first acknowledged publish through the VIP
    cross_s: float | None = None         # fault -> every broker delivers to every other broker again
    published: int = 0
    acked: int = 0
    lost: int = 0
    duplicates: int = 0
    sessions_lost: int = 0
    vip_holder_before: str = ""
    vip_holder_after: str = ""
    notes: list = dataclasses.field(default_factory=list)

    def line(self):
        def f(v):
            return "n/a" if v is None else f"{v:.2f} s"
        return (f"{self.fault:<22} {self.target:<14} recovery {f(self.recovery_s):>8}  VIP {f(self.vip_s):>8} "
                f"(outage {f(self.vip_outage_s)})  "
                f"cross-broker {f(self.cross_s):>8}  stream {self.acked}/{self.published} acked, lost {self.lost}, "
                f"duplicates {self.duplicates}  VIP {self.vip_holder_before}->{self.vip_holder_after}")

    def as_dict(self):
        return dataclasses.asdict(self)


class Rig:
    """The cluster under test, as the fault injection sees it."""

    def __init__(self, cluster, health_port=18883):
        self.cluster = cluster
        self.health_port = health_port

    def client(self, host, port=None, **kwargs):
        return self.cluster.client(host, port, **kwargs)

    def probe(self, host, port=None, topic=None, timeout=1.0):
        c = self.cluster
        return mqtt_probe(host, port or c.broker_port, c.cafile, c.username, c.password, timeout=timeout, topic=topic)

    def vip_holders(self):
        return [n for n in self.cluster.loadbalancers if holds_address(n, self.cluster.vip)]

    def vip_holder(self, timeout=30):
        holders = wait_until(lambda: (h := self.vip_holders()) and len(h) == 1 and h, timeout, interval=0.5)
        if not holders:
            raise AssertionError(f"VIP {self.cluster.vip} not held by exactly one load balancer: {self.vip_holders()}")
        return holders[0]

    def publisher_broker(self, client_id, since):
        """The broker the VIP sent client_id to (from the brokers' connection log)."""
        def find():
            hits = [n for n in self.cluster.brokers if client_id in journal(n, since, unit="mosquitto")]
            return hits[0] if len(hits) == 1 else None
        name = wait_until(find, 15, interval=0.5)
        if not name:
            raise AssertionError(f"could not tell which broker serves {client_id}")
        return name

    def bridge_relays(self):
        """The bridge masters whose mosquitto runs: one, whether there is a standby or not."""
        return [n for n in self.cluster.bridge if unit_active(n, "mosquitto")]

    def active_bridge(self, timeout=30):
        relays = wait_until(lambda: (r := self.bridge_relays()) and len(r) == 1 and r, timeout, interval=0.5)
        if not relays:
            raise AssertionError(f"not exactly one bridge master runs mosquitto: {self.bridge_relays()}")
        return relays[0]

    def settled(self, timeout=90):
        """Every service is back, exactly one bridge master relays, the VIP is on exactly one load balancer and its
        nginx is healthy."""
        def ok():
            relays = self.bridge_relays()
            if len(relays) != 1:
                return False
            for b in list(self.cluster.brokers) + relays:
                if self.probe(self.address(b)) is not None:
                    return False
            for lb in self.cluster.loadbalancers:
                if not (unit_active(lb, "keepalived") and nginx_healthy(lb, self.health_port)):
                    return False
            holders = self.vip_holders()
            return len(holders) == 1
        return wait_until(ok, timeout, interval=1.0)

    def address(self, name):
        for group in (self.cluster.brokers, self.cluster.bridge, self.cluster.loadbalancers):
            if name in group:
                return group[name]
        raise KeyError(name)


def inject(rig, fault, stream_interval=0.02, probe_interval=0.1, settle_timeout=90):
    """Inject one fault under load and measure it. fault is one of FAULTS' keys. Returns a Result."""
    cluster = rig.cluster
    run = uuid.uuid4().hex[:8]
    topic = f"e2e/failover/{fault}/{run}"
    since = clock(next(iter(cluster.brokers)))

    # The publisher goes through the VIP; which broker serves it decides where the subscriber goes.
    pub = _resilient(rig.client(cluster.vip, cluster.port, client_id=f"fo-pub-{run}", clean_session=False))
    pub.connect()
    x = rig.publisher_broker(pub.client_id, since)
    others = [n for n in cluster.brokers if n != x]
    y = others[0] if others else x
    sub = _resilient(rig.client(cluster.brokers[y], client_id=f"fo-sub-{run}", clean_session=False),
                     topic + "/stream", qos=1, resubscribe="lost")
    sub.connect()
    sub.subscribe(topic + "/stream", qos=1)
    cross = CrossProbe(rig.client, cluster.brokers, topic + "/cross", interval=probe_interval).start()
    holder = rig.vip_holder()
    result = Result(fault=fault, target="", vip_holder_before=holder)

    stream = Stream(pub, topic + "/stream", interval=stream_interval)
    vip = Prober(lambda: rig.probe(cluster.vip, cluster.port, topic=topic + "/vip-probe"), interval=probe_interval)
    try:
        stream.start()
        vip.start()
        # Bridged delivery is flowing and the subscription has been saved (autosave 1 s) before the fault.
        if not wait_until(lambda: len(sub.received(topic + "/stream")) >= 20
                          and cross.restored_at(time.monotonic() - 1.0), 30):
            raise AssertionError("the stream or the cross-probes did not flow before the fault")
        time.sleep(1.5)

        target, fault_at, recovery = FAULTS[fault](rig, x=x, y=y, holder=holder)
        result.target = target
        if recovery is not None:
            recovery.start()
        restored = wait_until(lambda: cross.restored_at(fault_at), settle_timeout, interval=0.1)
        wait_until(lambda: vip.restored(fault_at)[0] is not None, settle_timeout, interval=0.1)
        if recovery is not None:
            recovery.join(settle_timeout)
            result.recovery_s = None if recovery.at is None else recovery.at - fault_at
        result.vip_s, result.vip_outage_s = vip.restored(fault_at)
        result.cross_s = None if not restored else restored - fault_at
        after = FAULT_AFTER.get(fault)
        if after:
            after(rig, target, result)
        time.sleep(2)  # a little more stream after recovery
    finally:
        stream.stop.set()
        vip.stop.set()
        stream.join(10)
        vip.join(10)
        cross.close()

    # Count: every acknowledged message must reach the persistent subscriber.
    wait_until(lambda: len(stream.acked()) == len(stream.sent), 60)
    acked = stream.acked()
    wait_until(lambda: set(acked) <= set(sub.received(topic + "/stream")), 60)
    time.sleep(1)  # let any duplicate arrive before counting
    got = counts(sub.received(topic + "/stream"))
    result.published, result.acked = len(stream.sent), len(acked)
    result.lost = len(set(acked) - set(got))
    result.duplicates = sum(c - 1 for c in got.values() if c > 1)
    result.sessions_lost = sub.sessions_lost
    if result.lost:
        result.notes.append(f"lost: {sorted(set(acked) - set(got), key=int)[:20]}")
    pub.close()
    sub.close()
    if not rig.settled(settle_timeout):
        result.notes.append("cluster did not settle")
    result.vip_holder_after = rig.vip_holder()
    return result


# ---------------------------------------------------------------------------------------------------------
# The faults. Each takes the rig and x (the publisher's broker), y (the subscriber's broker), holder (the VIP
# holder); injects; returns (target, fault time, a FirstSuccess for the target's recovery or None).


def _mosquitto_back(rig, name, old_pid):
    def check():
        return rig.probe(rig.address(name)) is None and main_pid(name, "mosquitto") not in (0, old_pid)
    return check


def _kill_mosquitto(rig, name):
    pid = main_pid(name, "mosquitto")
    assert pid > 0, f"mosquitto is not running on {name}"
    at = fault_in(name, f"kill -9 {pid}")
    return name, at, FirstSuccess(_mosquitto_back(rig, name, pid), interval=0.05)


def fault_broker_kill9(rig, x, y, holder):
    return _kill_mosquitto(rig, x)


def fault_bridge_kill9(rig, x, y, holder):
    return _kill_mosquitto(rig, rig.active_bridge())


def fault_bridge_node_kill(rig, x, y, holder):
    """The active bridge master's node dies (docker kill: no clean shutdown, its connections just go silent). The
    standby must take over; recovery is when it serves MQTT with mosquitto started by keepalived."""
    if len(rig.cluster.bridge) < 2:
        raise AssertionError("bridge_node_kill needs a standby bridge master (two hosts in the bridge group)")
    active = rig.active_bridge()
    standby = next(n for n in rig.cluster.bridge if n != active)
    docker("kill", active)
    # From when the node is gone: messages sent while `docker kill` runs may still be relayed by it, and the
    # cross-broker figure counts from the first message sent after this moment.
    at = time.monotonic()
    return active, at, FirstSuccess(lambda: unit_active(standby, "mosquitto")
                                    and rig.probe(rig.address(standby)) is None, interval=0.05)


def fault_broker_sigstop(rig, x, y, holder):
    pid = main_pid(y, "mosquitto")
    assert pid > 0
    at = fault_in(y, f"kill -STOP {pid}")
    return y, at, FirstSuccess(_mosquitto_back(rig, y, pid), interval=0.05)


def fault_nginx_kill9(rig, x, y, holder):
    pid = main_pid(holder, "nginx")
    assert pid > 0
    at = fault_in(holder, "systemctl kill --signal=SIGKILL nginx")  # master and workers
    return holder, at, FirstSuccess(lambda: main_pid(holder, "nginx") not in (0, pid)
                                    and nginx_healthy(holder, rig.health_port), interval=0.05)


def fault_keepalived_stop(rig, x, y, holder):
    at = fault_in(holder, "systemctl stop keepalived", stamp="before")
    return holder, at, FirstSuccess(lambda: unit_active(holder, "keepalived"), interval=0.1)


def fault_lb_container_kill(rig, x, y, holder):
    """The VIP holder's node dies. Its recovery is the takeover: the other load balancer holds the VIP (the node
    itself stays down until FAULT_AFTER starts it again). The VIP figure adds what a client whose connection
    attempt fell into the gap sees: its kernel sends a lost SYN again after 1 s."""
    backup = next(n for n in rig.cluster.loadbalancers if n != holder)
    at = time.monotonic()  # the kill takes effect while `docker kill` runs (about 0.2 s): counted from before it
    docker("kill", holder)  # SIGKILL to the container's init: the node is gone, nothing shuts down cleanly
    return holder, at, FirstSuccess(lambda: holds_address(backup, rig.cluster.vip), interval=0.05)


def _started_at(container):
    return docker("inspect", "-f", "{{.State.StartedAt}}", container)


def fault_broker_reboot(rig, x, y, holder):
    booted = _started_at(y)
    # docker restart: systemd shuts down (services stop cleanly, mosquitto saves its database), then boots.
    # The fault counts from the moment the broker stops answering.
    threading.Thread(target=docker, args=("restart", y), kwargs={"timeout": 180}, daemon=True).start()
    wait_until(lambda: rig.probe(rig.address(y), timeout=0.5) is not None, 60, interval=0.05)
    at = time.monotonic()
    return y, at, FirstSuccess(lambda: _started_at(y) != booted and rig.probe(rig.address(y)) is None
                               and unit_active(y, "mosquitto-ha-watchdog"), interval=0.2, deadline_s=180)


def _after_lb_container_kill(rig, target, result):
    """The killed node is started again and must rejoin: keepalived up (as backup), nginx healthy."""
    started = time.monotonic()
    docker("start", target)
    back = wait_until(lambda: unit_active(target, "keepalived") and nginx_healthy(target, rig.health_port), 120,
                      interval=0.5)
    result.notes.append(f"{target} started again and rejoined in {time.monotonic() - started:.1f} s"
                        if back else f"{target} did not rejoin within 120 s")


def _after_bridge_node_kill(rig, target, result):
    """The killed bridge master is started again: it must rejoin as the standby (keepalived running, mosquitto
    stopped) and the role must not move back (no preemption), watched for a few seconds."""
    started = time.monotonic()
    standby = next(n for n in rig.cluster.bridge if n != target)
    docker("start", target)
    back = wait_until(lambda: unit_active(target, "keepalived")
                      and dexec(target, "cat /run/mosquitto-ha/bridge-state")[1] == "BACKUP", 120, interval=0.5)
    result.notes.append(f"{target} started again and rejoined as standby in {time.monotonic() - started:.1f} s"
                        if back else f"{target} did not rejoin as standby within 120 s")
    flaps = [rig.bridge_relays() for _unused in range(10) if time.sleep(0.5) is None]
    if any(relays != [standby] for relays in flaps):
        result.notes.append(f"the bridge role moved after {target} came back: {flaps}")


FAULTS = {
    "broker_kill9": fault_broker_kill9,
    "bridge_kill9": fault_bridge_kill9,
    "bridge_node_kill": fault_bridge_node_kill,
    "broker_sigstop": fault_broker_sigstop,
    "nginx_kill9": fault_nginx_kill9,
    "keepalived_stop": fault_keepalived_stop,
    "lb_container_kill": fault_lb_container_kill,
    "broker_reboot": fault_broker_reboot,
}
FAULT_AFTER = {"lb_container_kill": _after_lb_container_kill, "bridge_node_kill": _after_bridge_node_kill}
# Faults that need a standby bridge master (two hosts in the bridge group).
STANDBY_FAULTS = {"bridge_node_kill"}

DESCRIPTIONS = {
    "broker_kill9": "kill -9 mosquitto on the broker serving the publisher",
    "bridge_kill9": "kill -9 the bridge master's mosquitto",
    "bridge_node_kill": "docker kill the active bridge master (node lost; the standby takes over)",
    "broker_sigstop": "SIGSTOP mosquitto on the subscriber's broker (hang)",
    "nginx_kill9": "kill -9 nginx (master and workers) on the VIP holder",
    "keepalived_stop": "systemctl stop keepalived on the VIP holder",
    "lb_container_kill": "docker kill the VIP holder (node lost)",
    "broker_reboot": "reboot (docker restart) the subscriber's broker",
}


def dump(results, path):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([r.as_dict() for r in results], handle, indent=2)
