"""The watchdog's decision: hung (stopped or idle) vs busy (working) when a probe fails; restarts and their
rate limit. The watchdog is a script (roles/watchdog/files/mosquitto-ha-watchdog); systemd, the probe and the
CPU sampler are replaced by fakes here. The molecule scenarios run it for real (a SIGSTOPped broker)."""

import importlib.machinery
import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "roles" / "watchdog" / "files" / "mosquitto-ha-watchdog"


@pytest.fixture()
def wd(monkeypatch):
    loader = importlib.machinery.SourceFileLoader("mosquitto_ha_watchdog", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    module.restarted = []
    module.logged = []
    monkeypatch.setattr(module, "unit_state", lambda unit: ("active", "enabled", 4242))
    monkeypatch.setattr(module, "log", module.logged.append)
    return module


class Fake:
    """A clock that the probe advances by `probe_takes`, and a CPU sampler using `cpu_share` of one CPU."""

    def __init__(self, probe_takes=2.0, cpu_share=0.0, states=("S",)):
        self.now, self.cpu_used = 1000.0, 0.0
        self.probe_takes, self.cpu_share, self.states = probe_takes, cpu_share, set(states)
        self.answers = True

    def clock(self):
        return self.now

    def cpu(self, _pid):
        return self.cpu_used, self.states

    def probe(self, _spec, _timeout):
        self.now += self.probe_takes
        self.cpu_used += self.probe_takes * self.cpu_share
        return None if self.answers else "mqtt probe of 127.0.0.1:8883 failed: timed out"


def _service(wd, fake, monkeypatch, **defaults):
    monkeypatch.setattr(wd, "probe", fake.probe)
    settings = {"failures": 2, "max_restarts": 5, "restart_window": 300, "pause_dir": "/nonexistent",
                "busy_cpu": 0.25, "busy_grace": 60}
    settings.update(defaults)
    service = wd.Service({"unit": "mosquitto.service", "probe": {"type": "mqtt", "port": 8883}}, settings,
                         cpu=fake.cpu, clock=fake.clock)
    monkeypatch.setattr(service, "restart", lambda reason, hung: wd.restarted.append((reason, hung)))
    return service


def _checks(service, fake, n, interval=3.0):
    for _unused in range(n):
        service.check(2.0)
        fake.now += interval - fake.probe_takes


def test_only_while_watches_a_unit_only_while_its_file_says_so(wd, monkeypatch, tmp_path):
    """mosquitto on a pair of bridge masters is disabled at boot and run by keepalived on the active node only: it
    is watched (restarted when dead) while the state file says MASTER, and left alone otherwise."""
    state = tmp_path / "bridge-state"
    monkeypatch.setattr(wd, "unit_state", lambda unit: ("inactive", "disabled", 0))
    settings = {"failures": 2, "max_restarts": 5, "restart_window": 300, "pause_dir": str(tmp_path)}
    service = wd.Service({"unit": "mosquitto.service", "only_while": {"file": str(state), "content": "MASTER"}},
                         settings)
    monkeypatch.setattr(service, "restart", lambda reason, hung: wd.restarted.append((reason, hung)))
    service.check(2.0)  # no state file yet
    state.write_text("BACKUP\n")
    service.check(2.0)
    assert wd.restarted == []
    assert any("not watched (" + str(state) + ": no such file)" in line for line in wd.logged), wd.logged
    state.write_text("MASTER\n")
    service.check(2.0)
    assert wd.restarted == [("unit is inactive", False)]
    assert "mosquitto.service: watched again" in wd.logged
    # Without only_while a disabled unit is left alone.
    plain = wd.Service({"unit": "mosquitto.service"}, settings)
    plain.check(2.0)
    assert wd.restarted == [("unit is inactive", False)]
    assert "mosquitto.service: not watched (unit file state disabled)" in wd.logged


def test_a_new_reason_to_leave_a_unit_alone_is_logged(wd, monkeypatch, tmp_path):
    """A pause file removed while the state file says BACKUP (a bridge master after a rolling upgrade): the journal
    says why the unit is still left alone, not only that it was paused."""
    state = tmp_path / "bridge-state"
    state.write_text("BACKUP\n")
    pause = tmp_path / "pause"
    pause.mkdir()
    (pause / "mosquitto.service").touch()
    monkeypatch.setattr(wd, "unit_state", lambda unit: ("inactive", "disabled", 0))
    settings = {"failures": 2, "max_restarts": 5, "restart_window": 300, "pause_dir": str(pause)}
    service = wd.Service({"unit": "mosquitto.service", "only_while": {"file": str(state), "content": "MASTER"}},
                         settings)
    service.check(2.0)
    service.check(2.0)
    (pause / "mosquitto.service").unlink()
    service.check(2.0)
    service.check(2.0)
    assert wd.logged == ["mosquitto.service: not watched (pause file present)",
                         f"mosquitto.service: not watched ({state}: BACKUP)"]


def test_a_healthy_service_is_left_alone(wd, monkeypatch):
    fake = Fake()
    service = _service(wd, fake, monkeypatch)
    _checks(service, fake, 10)
    assert wd.restarted == []


def test_a_stopped_process_is_hung_and_restarted_after_two_failed_probes(wd, monkeypatch):
    fake = Fake(cpu_share=0.0, states=("T",))
    fake.answers = False
    service = _service(wd, fake, monkeypatch)
    _checks(service, fake, 1)
    assert wd.restarted == []
    _checks(service, fake, 1)
    assert len(wd.restarted) == 1
    reason, hung = wd.restarted[0]
    assert hung and reason.startswith("2 probes in a row failed") and "(stopped)" in reason


def test_an_idle_unresponsive_process_is_hung(wd, monkeypatch):
    fake = Fake(cpu_share=0.01)  # deadlocked: running state, no CPU
    fake.answers = False
    service = _service(wd, fake, monkeypatch)
    _checks(service, fake, 2)
    assert len(wd.restarted) == 1 and "idle" in wd.restarted[0][0]


def test_a_busy_process_gets_the_grace_period_then_a_restart(wd, monkeypatch):
    fake = Fake(cpu_share=0.9)  # working through a handshake storm
    fake.answers = False
    service = _service(wd, fake, monkeypatch, busy_grace=60)
    _checks(service, fake, 20)  # 20 checks, 3 s apart: 57 s of failed probes while busy
    assert wd.restarted == [], wd.logged
    assert any("but busy (90% CPU" in line for line in wd.logged), wd.logged
    _checks(service, fake, 2)
    assert len(wd.restarted) == 1
    assert wd.restarted[0][0].startswith("unresponsive for 6") and "while busy" in wd.restarted[0][0]


def test_a_busy_spell_that_passes_resets_the_grace_period(wd, monkeypatch):
    fake = Fake(cpu_share=0.9)
    fake.answers = False
    service = _service(wd, fake, monkeypatch, busy_grace=10)
    _checks(service, fake, 3)  # busy for 6 s
    fake.answers = True
    _checks(service, fake, 1)  # answers again
    fake.answers = False
    _checks(service, fake, 3)  # busy for 6 s again: the grace period started anew
    assert wd.restarted == []


def test_busy_then_idle_counts_as_hung_from_the_first_idle_probe(wd, monkeypatch):
    fake = Fake(cpu_share=0.9)
    fake.answers = False
    service = _service(wd, fake, monkeypatch)
    _checks(service, fake, 3)
    fake.cpu_share = 0.0
    _checks(service, fake, 1)
    assert wd.restarted == []
    _checks(service, fake, 1)
    assert len(wd.restarted) == 1 and wd.restarted[0][0].startswith("2 probes in a row failed")


def test_unit_cpu_reads_this_process(wd):
    import os

    sum(i * i for i in range(300000))  # use some CPU
    seconds, states = wd.unit_cpu(os.getpid())
    assert seconds > 0
    assert states & {"R", "S"}
    assert wd.unit_cpu(0) == (0.0, set())


def test_unit_state_reads_main_pid_in_the_same_query(wd, monkeypatch):
    calls = []

    class Result:
        stdout = "ActiveState=active\nUnitFileState=enabled\nMainPID=1234\n"

    monkeypatch.undo()  # the fixture's fake unit_state
    monkeypatch.setattr(wd, "systemctl", lambda *args, **kw: calls.append(args) or Result())
    assert wd.unit_state("mosquitto.service") == ("active", "enabled", 1234)
    assert len(calls) == 1


def test_restarts_are_rate_limited_and_logged(wd, monkeypatch):
    calls = []

    class Result:
        returncode, stdout, stderr = 0, "", ""

    monkeypatch.setattr(wd, "systemctl", lambda *args, **kw: calls.append(args) or Result())
    service = wd.Service({"unit": "nginx.service"}, {"failures": 2, "max_restarts": 2, "restart_window": 300,
                                                     "pause_dir": "/nonexistent"})
    for _unused in range(3):
        service.restart("unit is failed", hung=False)
    restarts = [c for c in calls if c[0] == "restart"]
    assert len(restarts) == 2
    assert any("NOT restarting (unit is failed): already restarted 2 times" in line for line in wd.logged)
    assert any(line.startswith("nginx.service: restarting: unit is failed") for line in wd.logged)
    service.restart("probe failed", hung=True)
    assert ("kill", "--signal=SIGKILL", "nginx.service") not in calls  # still rate limited


def _parse_connect(packet):
    """(flags, client id, user name, password) of an MQTT 3.1.1 CONNECT, decoded independently of the script."""
    assert packet[0] == 0x10
    length, multiplier, i = 0, 1, 1
    while True:
        length += (packet[i] & 0x7F) * multiplier
        multiplier *= 128
        i += 1
        if not packet[i - 1] & 0x80:
            break
    body = packet[i:]
    assert len(body) == length

    def field(at):
        size = int.from_bytes(body[at:at + 2], "big")
        return body[at + 2:at + 2 + size].decode(), at + 2 + size

    name, at = field(0)
    assert (name, body[at]) == ("MQTT", 4)
    flags = body[at + 1]
    client_id, at = field(at + 4)
    username = password = None
    if flags & 0x80:
        username, at = field(at)
    if flags & 0x40:
        password, at = field(at)
    assert at == len(body)
    return flags, client_id, username, password


def test_the_connect_packet_carries_the_probe_user(wd):
    assert _parse_connect(wd.connect_packet()) == (0x02, "mosquitto-ha-watchdog", None, None)
    assert _parse_connect(wd.connect_packet("mosquitto-ha-watchdog", "s3cret")) == (
        0xC2, "mosquitto-ha-watchdog", "mosquitto-ha-watchdog", "s3cret")
    long_password = "p" * 300  # a remaining length over 127 takes two bytes
    assert _parse_connect(wd.connect_packet("w", long_password))[3] == long_password


def test_the_password_is_read_from_its_file_at_each_probe(wd, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("first\n")
    spec = {"username": "mosquitto-ha-watchdog", "password_file": str(secret)}
    assert wd._credentials(spec) == ("mosquitto-ha-watchdog", "first")
    secret.write_text("rotated\n")
    assert wd._credentials(spec) == ("mosquitto-ha-watchdog", "rotated")
    secret.unlink()
    assert wd._credentials(spec) == ("mosquitto-ha-watchdog", None)
    assert wd._credentials({}) == (None, None)


class FakeTLS:
    def __init__(self, reply):
        self.reply, self.sent = reply, []

    def sendall(self, data):
        self.sent.append(data)

    def recv(self, _size):
        return self.reply

    def unwrap(self):
        return None


def test_a_refused_login_still_counts_as_alive_and_is_logged_when_it_starts_and_ends(wd, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    spec = {"username": "mosquitto-ha-watchdog", "password_file": str(secret)}
    refused = FakeTLS(b"\x20\x02\x00\x05")
    for _unused in range(3):
        assert wd._mqtt_connack(refused, "127.0.0.1", 8883, spec) is None
    assert _parse_connect(refused.sent[0])[2:] == ("mosquitto-ha-watchdog", "s3cret")
    assert all(packet[0] == 0x10 for packet in refused.sent)
    refusals = [line for line in wd.logged if "refuses the probe's login (not authorised)" in line]
    assert len(refusals) == 1
    accepted = FakeTLS(b"\x20\x02\x00\x00")
    assert wd._mqtt_connack(accepted, "127.0.0.1", 8883, spec) is None
    assert accepted.sent[-1] == bytes([0xE0, 0x00])
    assert wd.logged[-1] == "mosquitto at 127.0.0.1:8883 accepts the probe's login again"
    with pytest.raises(wd.ClosedByService):
        wd._mqtt_connack(FakeTLS(b""), "127.0.0.1", 8883, spec)
    assert wd._mqtt_connack(FakeTLS(b"\x90\x03"), "127.0.0.1", 8883, spec).startswith("no CONNACK")


class Listener:
    """A TCP listener on loopback that either accepts and closes every connection at once (a broker out of
    connections or file descriptors) or never accepts (a stopped process: the kernel completes the TCP handshake,
    nobody answers)."""

    def __init__(self, close_at_once):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = None
        if close_at_once:
            self.thread = threading.Thread(target=self._close_all, daemon=True)
            self.thread.start()

    def _close_all(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _unused = self.sock.accept()
            except OSError:
                continue
            conn.close()

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(2)
        self.sock.close()


@pytest.mark.parametrize("kind", ["mqtt", "tls"])
def test_a_service_that_closes_new_connections_at_once_is_full_not_hung(wd, kind):
    listener = Listener(close_at_once=True)
    try:
        for _unused in range(3):
            assert wd.probe({"type": kind, "port": listener.port}, 2.0) is None
    finally:
        listener.close()
    full = [line for line in wd.logged if "accepts new connections and closes them at once" in line]
    assert len(full) == 1, wd.logged  # logged when it starts, not at every probe


@pytest.mark.parametrize("kind", ["mqtt", "tls"])
def test_a_service_that_accepts_nothing_fails_its_probe(wd, kind):
    listener = Listener(close_at_once=False)
    try:
        reason = wd.probe({"type": kind, "port": listener.port}, 0.5)
    finally:
        listener.close()
    assert reason is not None and "timed out" in reason, reason
    assert not any("closes them at once" in line for line in wd.logged)


def test_a_service_without_a_listener_fails_its_probe(wd):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        reason = wd.probe({"type": "mqtt", "port": port}, 0.5)
    assert reason is not None and "refused" in reason.lower(), reason


# systemd's watchdog over the watchdog: sd_notify(3) datagrams on $NOTIFY_SOCKET.


@pytest.fixture()
def notify_socket(monkeypatch, tmp_path):
    """A datagram socket standing in for systemd's notification socket; returns a function that lists what
    arrived so far."""
    import socket

    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))

    def received():
        messages = []
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except BlockingIOError:
                return messages

    yield received
    sock.close()


def test_notify_sends_one_datagram_to_the_notify_socket(wd, notify_socket):
    assert wd.notify("READY=1") is True
    assert wd.notify("WATCHDOG=1") is True
    assert notify_socket() == ["READY=1", "WATCHDOG=1"]


def test_notify_reaches_an_abstract_socket(wd, monkeypatch):
    import os
    import socket

    name = f"mosquitto-ha-watchdog-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert wd.notify("WATCHDOG=1") is True
        assert sock.recv(64) == b"WATCHDOG=1"


def test_notify_is_a_no_op_outside_systemd(wd, monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert wd.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))  # no one listens: not an error
    assert wd.notify("READY=1") is False


def _fake_systemctl(monkeypatch, tmp_path, script):
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")


def test_a_slow_systemctl_is_waited_for_with_the_watchdog_kept_alive(wd, monkeypatch, tmp_path, notify_socket):
    """A `systemctl restart` may take tens of seconds: while it runs, WATCHDOG=1 goes out every `poll` seconds,
    so systemd does not take the waiting watchdog for a hung one."""
    _fake_systemctl(monkeypatch, tmp_path, 'sleep 1.2; echo "done $*"; echo oops >&2; exit 3\n')
    result = wd.systemctl("restart", "mosquitto.service", poll=0.2)
    assert (result.returncode, result.stdout, result.stderr) == (3, "done restart mosquitto.service\n", "oops\n")
    assert notify_socket().count("WATCHDOG=1") >= 4


def test_a_systemctl_that_hangs_is_killed_at_its_timeout(wd, monkeypatch, tmp_path, notify_socket):
    import subprocess
    import time

    _fake_systemctl(monkeypatch, tmp_path, "exec sleep 30\n")
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        wd.systemctl("restart", "mosquitto.service", timeout=0.6, poll=0.2)
    assert time.monotonic() - started < 5
    assert notify_socket().count("WATCHDOG=1") >= 2


def test_main_reports_ready_then_alive_before_each_check(wd, monkeypatch, tmp_path, notify_socket):
    """READY=1 once the configuration is read, then WATCHDOG=1 before each service's check: a check that hangs
    stops the stream and systemd restarts the watchdog after WatchdogSec."""
    import json

    config = tmp_path / "watchdog.json"
    config.write_text(json.dumps({"pause_dir": str(tmp_path), "services": [
        {"unit": "mosquitto.service"}, {"unit": "keepalived.service"}]}))
    checked = []
    monkeypatch.setattr(wd, "unit_state", lambda unit: checked.append(notify_socket()) or ("active", "enabled", 1))
    monkeypatch.setattr(wd.signal, "signal", lambda *args: None)
    monkeypatch.setattr(wd.faulthandler, "enable", lambda: None)
    assert wd.main(["--config", str(config), "--once"]) == 0
    assert checked == [["READY=1", "WATCHDOG=1"], ["WATCHDOG=1"]]


class Stopped(Fake):
    """Fake whose main process state is read by process_state() (one /proc read) and its unit's states by cpu()."""

    def __init__(self, main="S", states=("S",)):
        super().__init__(states=states)
        self.main = main
        self.probed = 0

    def process_state(self, _pid):
        return self.main

    def probe(self, spec, timeout):
        self.probed += 1
        return super().probe(spec, timeout)


def _stopped_service(wd, fake, monkeypatch, grace=0.5):
    monkeypatch.setattr(wd, "process_state", fake.process_state)
    return _service(wd, fake, monkeypatch, stopped_grace=grace)


def _ticks(service, fake, seconds, tick=0.25):
    for _unused in range(round(seconds / tick)):
        fake.now += tick
        service.check_stopped()


def test_a_stopped_process_is_restarted_after_the_stopped_grace_without_waiting_for_probes(wd, monkeypatch):
    fake = Stopped()
    service = _stopped_service(wd, fake, monkeypatch)
    service.check(2.0)  # a full check while it runs: the main PID is known from then on
    assert fake.probed == 1
    fake.main, fake.states = "T", {"T"}  # SIGSTOP
    _ticks(service, fake, 0.25)
    assert wd.restarted == [], "restarted at the first sight of a stopped process"
    assert any("is stopped (SIGSTOP)" in line for line in wd.logged), wd.logged
    _ticks(service, fake, 0.5)
    assert len(wd.restarted) == 1, wd.restarted
    reason, hung = wd.restarted[0]
    assert hung and reason.startswith("stopped (SIGSTOP) for 0.5"), reason
    assert fake.probed == 1, "a stopped process was probed"


def test_a_full_check_does_not_probe_a_stopped_process(wd, monkeypatch):
    """Probing a stopped process would only wait out the probe timeout."""
    fake = Stopped(main="T", states=("T",))
    service = _stopped_service(wd, fake, monkeypatch)
    service.check(2.0)
    assert fake.probed == 0 and wd.restarted == []
    _ticks(service, fake, 0.5)
    assert len(wd.restarted) == 1


def test_a_stop_shorter_than_the_grace_is_left_alone(wd, monkeypatch):
    fake = Stopped()
    service = _stopped_service(wd, fake, monkeypatch)
    service.check(2.0)
    for _unused in range(5):
        fake.main, fake.states = "T", {"T"}
        _ticks(service, fake, 0.25)
        fake.main, fake.states = "S", {"S"}  # SIGCONT
        _ticks(service, fake, 0.25)
    assert wd.restarted == []


def test_a_stopped_main_process_with_running_children_still_serves(wd, monkeypatch):
    """nginx: the master stopped, its workers serve on; restarting would drop every proxied connection."""
    fake = Stopped(main="T", states=("T", "S"))
    service = _stopped_service(wd, fake, monkeypatch)
    service.check(2.0)
    _ticks(service, fake, 3)
    assert wd.restarted == []


@pytest.mark.parametrize("state", ["t", "D", "Z", None])
def test_only_a_job_control_stop_counts_as_stopped(wd, monkeypatch, state):
    """t (stopped by a debugger), D (waiting on I/O), Z and a gone process are left to the probes."""
    fake = Stopped()
    service = _stopped_service(wd, fake, monkeypatch)
    service.check(2.0)
    fake.main, fake.states = state, {state} if state else set()
    _ticks(service, fake, 3)
    assert wd.restarted == []


def test_a_paused_or_unwatched_unit_is_not_restarted_when_stopped(wd, monkeypatch, tmp_path):
    fake = Stopped()
    service = _stopped_service(wd, fake, monkeypatch)
    service.pause_file = str(tmp_path / "mosquitto.service")
    service.check(2.0)
    fake.main, fake.states = "T", {"T"}
    (tmp_path / "mosquitto.service").touch()
    _ticks(service, fake, 3)
    assert wd.restarted == []
    (tmp_path / "mosquitto.service").unlink()
    monkeypatch.setattr(wd, "unit_state", lambda unit: ("active", "disabled", 4242))
    service.check(2.0)  # disabled: not watched, the known main PID is dropped
    _ticks(service, fake, 3)
    assert wd.restarted == []


def test_the_stopped_check_is_off_with_a_zero_grace(wd, monkeypatch):
    fake = Stopped()
    service = _stopped_service(wd, fake, monkeypatch, grace=0)
    service.check(2.0)
    fake.main, fake.states = "T", {"T"}
    _ticks(service, fake, 3)
    assert wd.restarted == []


def test_process_state_reads_this_process(wd):
    import os

    assert wd.process_state(os.getpid()) in ("R", "S")
    assert wd.process_state(0) is None


def test_main_checks_for_stopped_processes_between_full_checks(wd, monkeypatch, tmp_path):
    """With stopped_grace 0.5 the loop looks at the main processes every 0.25 s between the full checks (every
    `interval`); it ends here when the fake sleep has run the loop for 2 s."""
    import json

    config = tmp_path / "watchdog.json"
    config.write_text(json.dumps({"pause_dir": str(tmp_path), "interval": 1, "stopped_grace": 0.5,
                                  "services": [{"unit": "mosquitto.service"}]}))
    clock = {"now": 0.0}
    full, quick, sleeps = [], [], []
    monkeypatch.setattr(wd.time, "monotonic", lambda: clock["now"])

    def sleep(seconds):
        sleeps.append(seconds)
        clock["now"] += seconds
        if clock["now"] >= 2:
            wd.RUNNING = False

    monkeypatch.setattr(wd.time, "sleep", sleep)
    monkeypatch.setattr(wd.Service, "check", lambda self, timeout: full.append(clock["now"]))
    monkeypatch.setattr(wd.Service, "check_stopped", lambda self: quick.append(clock["now"]))
    monkeypatch.setattr(wd.signal, "signal", lambda *args: None)
    monkeypatch.setattr(wd.faulthandler, "enable", lambda: None)
    assert wd.main(["--config", str(config)]) == 0
    assert full == [0.0, 1.0], full
    assert quick == [0.25, 0.5, 0.75, 1.25, 1.5, 1.75], quick
    assert all(s == 0.25 for s in sleeps), sleeps
