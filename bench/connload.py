"""Many idle TLS MQTT connections from one process: the load generator of the connection ramp (bench/ramp.py).

A worker process runs one asyncio loop. Each connection is a plain asyncio.Protocol over a socket bound to one
of the worker's source addresses, with TLS done through ssl.MemoryBIO (asyncio's own SSL transport allocates a
256 KiB read buffer per connection, which 50k connections cannot afford). A connection counts as held once its
CONNACK (return code 0) arrived; it then stays idle and sends a PINGREQ only when it has been held for 80 % of
its keepalive, so a ramp that outlives the keepalive is not cut by the broker.

Each failed attempt is classified by the phase it failed in and the error it saw (socket/bind/connect errno,
TLS handshake error or reset, CONNACK refused or timed out), which is the ramp's first evidence of what limited
it. The controller talks to a worker over a multiprocessing pipe: ("ramp", target, seconds, fail_budget),
("status",), ("close",). Every step is bounded in time and failures; "close" disconnects every connection.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import itertools
import os
import resource
import socket
import pathlib
import ssl
import sys
import time

# The MQTT packets are shared with the tests' probes (tests/e2e/mqttwire.py, standard library only).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from mqttwire import connect_packet  # noqa: E402

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


def raise_nofile(wanted):
    """Raise this process's RLIMIT_NOFILE soft limit towards `wanted` (up to the hard limit; raising the hard
    limit needs CAP_SYS_RESOURCE). Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    if wanted > hard != resource.RLIM_INFINITY:
        try:  # works only with CAP_SYS_RESOURCE
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Attempt(Exception):
    """A failed connection attempt: phase (socket, tcp, tls, connack) and a short error kind."""

    def __init__(self, phase, kind, detail=""):
        super().__init__(f"{phase}/{kind}: {detail}")
        self.phase, self.kind, self.detail = phase, kind, detail


def _errno_kind(exc):
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


class MqttTls(asyncio.Protocol):
    """TLS (MemoryBIO) + MQTT CONNECT/CONNACK, then idle with a late PINGREQ."""

    def __init__(self, context, server_hostname, packet, keepalive):
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_hostname)
        self.packet, self.keepalive = packet, keepalive
        self.phase = "tls"
        self.buffer = b""
        self.transport = None
        self.connack = asyncio.get_running_loop().create_future()
        # An attempt abandoned while its transport was being set up has nobody awaiting this future: mark its
        # exception as retrieved, so asyncio does not log it.
        self.connack.add_done_callback(lambda fut: fut.cancelled() or fut.exception())
        self.lost = asyncio.get_running_loop().create_future()
        self.held_at = None

    def _flush(self):
        data = self.outgoing.read()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, phase, kind, detail=""):
        if not self.connack.done():
            self.connack.set_exception(Attempt(phase, kind, detail))
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport):
        self.transport = transport
        self._step()

    def _step(self):
        if self.phase == "tls":
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except ssl.SSLError as exc:
                self._flush()
                self._fail("tls", f"SSLError:{exc.reason or type(exc).__name__}", str(exc))
                return
            self.phase = "connack"
            self.tls.write(self.packet)
            self._flush()
        try:
            while True:
                chunk = self.tls.read(1024)
                if not chunk:
                    break
                self.buffer += chunk
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            self._fail(self.phase, f"SSLError:{exc.reason or type(exc).__name__}", str(exc))
            return
        self._flush()
        if self.phase == "connack" and len(self.buffer) >= 4:
            head, self.buffer = self.buffer[:4], self.buffer[4:]
            if head[0] != 0x20:
                self._fail("connack", "not-connack", repr(head))
            elif head[3] != 0:
                self._fail("connack", f"refused-rc{head[3]}", repr(head))
            else:
                self.phase = "held"
                self.held_at = time.monotonic()
                self.connack.set_result(True)
        elif self.phase == "held":
            self.buffer = b""  # PINGRESP, nothing else is expected

    def data_received(self, data):
        self.incoming.write(data)
        self._step()

    def eof_received(self):
        self._fail(self.phase, "EOF", "peer closed the connection")
        return False

    def connection_lost(self, exc):
        if not self.connack.done():
            self.connack.set_exception(Attempt(self.phase, _errno_kind(exc) if exc else "EOF", str(exc or "")))
        if not self.lost.done():
            self.lost.set_result(exc)

    def ping(self):
        if self.phase == "held" and self.transport is not None and not self.transport.is_closing():
            self.tls.write(PINGREQ)
            self._flush()

    def close(self):
        if self.transport is None or self.transport.is_closing():
            return
        if self.phase == "held":
            try:
                self.tls.write(DISCONNECT)
                self._flush()
            except ssl.SSLError:
                pass
        self.transport.close()


class Worker:
    """Opens and holds connections to host:port from a list of source addresses."""

    def __init__(self, index, host, port, cafile, server_hostname, sources, username, password, keepalive,
                 attempt_timeout, concurrency):
        self.index, self.host, self.port = index, host, port
        self.context = ssl.create_default_context(cafile=cafile)
        self.server_hostname = server_hostname
        self.sources = itertools.cycle(sources)
        self.username, self.password, self.keepalive = username, password, keepalive
        self.attempt_timeout, self.concurrency = attempt_timeout, concurrency
        self.held = {}  # id -> protocol
        self.per_source = collections.Counter()
        self.dropped = 0
        self.drop_kinds = collections.Counter()
        self.serial = itertools.count()
        self.pinger = None

    async def _open(self, ident):
        loop = asyncio.get_running_loop()
        source = next(self.sources)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            raise Attempt("socket", _errno_kind(exc), str(exc)) from None
        proto = None
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            try:
                sock.bind((source, 0))
            except OSError as exc:
                raise Attempt("bind", _errno_kind(exc), str(exc)) from None
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (self.host, self.port)), self.attempt_timeout)
            except asyncio.TimeoutError:
                raise Attempt("tcp", "timeout", f"no TCP connect within {self.attempt_timeout} s") from None
            except OSError as exc:
                raise Attempt("tcp", _errno_kind(exc), str(exc)) from None
            packet = connect_packet(f"ramp-{os.getpid()}-{self.index}-{ident}", self.username, self.password,
                                    self.keepalive)
            _unused, proto = await loop.create_connection(
                lambda: MqttTls(self.context, self.server_hostname, packet, self.keepalive), sock=sock)
            sock = None  # the transport owns it now
            try:
                await asyncio.wait_for(asyncio.shield(proto.connack), self.attempt_timeout)
            except asyncio.TimeoutError:
                raise Attempt(proto.phase, "timeout",
                              f"no {'TLS handshake' if proto.phase == 'tls' else 'CONNACK'} within "
                              f"{self.attempt_timeout} s") from None
        except BaseException:
            if proto is not None:
                if not proto.connack.done():
                    proto.connack.cancel()
                elif not proto.connack.cancelled():
                    proto.connack.exception()  # retrieved, no "never retrieved" warning
                if proto.transport is not None:
                    proto.transport.abort()
            if sock is not None:
                sock.close()
            raise
        self.held[ident] = proto
        self.per_source[source] += 1
        proto.lost.add_done_callback(lambda fut, i=ident, s=source: self._lost(i, s, fut))
        return proto

    def _lost(self, ident, source, fut):
        if self.held.pop(ident, None) is not None:
            self.per_source[source] -= 1
            if not self.closing:
                self.dropped += 1
                exc = fut.result()
                self.drop_kinds[_errno_kind(exc) if exc else "closed-by-peer"] += 1

    closing = False

    async def _pings(self):
        """A PINGREQ for every connection held longer than 80 % of its keepalive (and again a keepalive on)."""
        while True:
            await asyncio.sleep(5)
            now = time.monotonic()
            for proto in list(self.held.values()):
                if proto.held_at is not None and now - proto.held_at >= 0.8 * self.keepalive:
                    proto.ping()
                    proto.held_at = now

    async def ramp(self, target, seconds, fail_budget, report):
        """Open connections until `target` are held, `seconds` pass or `fail_budget` attempts failed."""
        if self.pinger is None:
            self.pinger = asyncio.get_running_loop().create_task(self._pings())
        started = time.monotonic()
        deadline = started + seconds
        errors = collections.Counter()
        examples = {}
        attempts = failures = 0
        reached_at = None
        inflight = set()
        last_report = 0.0
        stop_reason = None
        while True:
            now = time.monotonic()
            if len(self.held) >= target:
                reached_at = now - started
                stop_reason = "reached"
                break
            if now >= deadline:
                stop_reason = "time limit"
                break
            if failures >= fail_budget:
                stop_reason = "failure budget"
                break
            if now - last_report >= 1.0:
                report({"op": "progress", "held": len(self.held), "attempts": attempts, "failures": failures})
                last_report = now
            room = min(self.concurrency - len(inflight), target - len(self.held) - len(inflight))
            for _unused in range(max(0, room)):
                attempts += 1
                inflight.add(asyncio.ensure_future(self._open(next(self.serial))))
            if not inflight:
                await asyncio.sleep(0.05)
                continue
            done, inflight = await asyncio.wait(inflight, timeout=max(0.01, min(1.0, deadline - now)),
                                                return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is None:
                    continue
                failures += 1
                key = f"{exc.phase}/{exc.kind}" if isinstance(exc, Attempt) else f"other/{type(exc).__name__}"
                errors[key] += 1
                examples.setdefault(key, str(exc)[:200])
        for task in inflight:  # attempts still open at the stop are abandoned (counted as failures)
            task.cancel()
        if inflight:
            results = await asyncio.gather(*inflight, return_exceptions=True)
            for res in results:
                if isinstance(res, asyncio.CancelledError):
                    errors["abandoned/in-flight at stop"] += 1
                    failures += 1
                elif isinstance(res, BaseException):
                    failures += 1
                    key = f"{res.phase}/{res.kind}" if isinstance(res, Attempt) else f"other/{type(res).__name__}"
                    errors[key] += 1
        return {"op": "ramped", "held": len(self.held), "attempts": attempts, "failures": failures,
                "errors": dict(errors), "examples": examples, "seconds": time.monotonic() - started,
                "reached_s": reached_at, "stop": stop_reason, **self.status()}

    def status(self):
        rusage = resource.getrusage(resource.RUSAGE_SELF)
        return {"held": len(self.held), "dropped": self.dropped, "drop_kinds": dict(self.drop_kinds),
                "per_source": {k: v for k, v in self.per_source.items() if v},
                "rss_kb": _rss_kb(), "cpu_s": rusage.ru_utime + rusage.ru_stime,
                "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}

    async def close(self, seconds=30):
        self.closing = True
        if self.pinger is not None:
            self.pinger.cancel()
        protos = list(self.held.values())
        for i, proto in enumerate(protos):
            proto.close()
            if i % 500 == 499:
                await asyncio.sleep(0)  # let the loop write
        deadline = time.monotonic() + seconds
        while self.held and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for proto in list(self.held.values()):
            if proto.transport is not None:
                proto.transport.abort()
        await asyncio.sleep(0.1)
        return {"op": "closed", "left": len(self.held), "closed": len(protos)}


def _rss_kb():
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def worker_main(conn, index, config):
    """Entry point of a worker process: serve commands from the pipe until "close" (or the pipe closes)."""
    nofile = raise_nofile(config["nofile"])
    worker = Worker(index, config["host"], config["port"], config["cafile"], config["server_hostname"],
                    config["sources"], config["username"], config["password"], config["keepalive"],
                    config["attempt_timeout"], config["concurrency"])

    async def serve():
        loop = asyncio.get_running_loop()
        conn.send({"op": "ready", "nofile": nofile, "pid": os.getpid()})
        ready = asyncio.Event()
        loop.add_reader(conn.fileno(), ready.set)
        idle_limit = time.monotonic() + config["lifetime"]
        try:
            while time.monotonic() < idle_limit:  # a controller that vanished cannot leave us running forever
                try:
                    await asyncio.wait_for(ready.wait(), 5)
                except asyncio.TimeoutError:
                    continue
                ready.clear()
                while conn.poll():
                    try:
                        cmd = conn.recv()
                    except EOFError:
                        return
                    if cmd[0] == "ramp":
                        conn.send(await worker.ramp(cmd[1], cmd[2], cmd[3], conn.send))
                    elif cmd[0] == "status":
                        conn.send({"op": "status", **worker.status()})
                    elif cmd[0] == "close":
                        conn.send(await worker.close())
                        return
        finally:
            loop.remove_reader(conn.fileno())
            if worker.held:
                await worker.close(10)

    asyncio.run(serve())
