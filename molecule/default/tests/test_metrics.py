"""The metrics role: every node's exporter serves the cluster's figures with true values, as a Prometheus would scrape
them (over the network, from the test machine), and a broker taken down shows as down on the bridge master, the load
balancers and the broker itself. The example alert rules pass promtool's checks and unit tests."""

import pathlib
import re
import time
import urllib.request

import pytest

from mqttcheck import wait_until

PORT = 9100
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# One collector round (metrics_interval, 15 s) plus its $SYS wait, twice over.
ROUND = 60


def scrape(address):
    """{(name, frozenset(labels)): value} of one scrape of a node's exporter."""
    with urllib.request.urlopen(f"http://{address}:{PORT}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(_LABEL.findall(match.group(2) or ""))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def values(samples, name, **labels):
    """The values of metric `name` whose labels include `labels`, as {labels-dict-items: value}."""
    want = set(labels.items())
    return {labs: v for (n, labs), v in samples.items() if n == name and want <= set(labs)}


def one(samples, name, **labels):
    found = values(samples, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {found}"
    return next(iter(found.values()))


def _fresh(address, since):
    """A scrape whose collector round started after `since` (epoch seconds), or None."""
    samples = scrape(address)
    stamp = values(samples, "mosquitto_ha_collector_timestamp_seconds")
    return samples if stamp and max(stamp.values()) > since else None


def fresh_scrape(address, since, timeout=ROUND):
    samples = wait_until(lambda: _fresh(address, since), timeout, interval=1)
    assert samples, f"no collector round on {address} since {since} within {timeout} s"
    return samples


@pytest.fixture(scope="module")
def nodes(cluster):
    return {**cluster.brokers, **cluster.bridge, **cluster.loadbalancers}


@pytest.fixture(scope="module", autouse=True)
def healthy_since():
    """When this module started. The test before it leaves the cluster healthy, but a collector round that started
    earlier may still show what that test took down: the all-up checks read only rounds started after this."""
    return time.time()


def until_all_up(address, since, problems_of):
    """(problems, samples) of the first round on `address` started after `since` that shows no problem, or of the
    last round within two collector rounds' time: a node an earlier test restarted reports uptime 0 and links down
    until mosquitto's first $SYS round after its start."""
    deadline = time.monotonic() + 2 * ROUND
    while True:
        samples = fresh_scrape(address, since)
        problems = problems_of(samples)
        if not problems or time.monotonic() > deadline:
            return problems, samples
        since = one(samples, "mosquitto_ha_collector_timestamp_seconds")


def test_every_node_serves_node_and_cluster_metrics(cluster, nodes):
    for name, address in nodes.items():
        samples = fresh_scrape(address, time.time() - ROUND)
        assert values(samples, "node_cpu_seconds_total"), f"{name}: the exporter's own metrics are missing"
        age = time.time() - one(samples, "mosquitto_ha_collector_timestamp_seconds")
        assert age < ROUND, f"{name}: the cluster figures are {age:.0f} s old"
        assert one(samples, "mosquitto_ha_unit_active", unit="mosquitto-ha-watchdog.service") == 1, name
        if name not in cluster.loadbalancers:  # TLS passthrough: no certificate of their own is needed there
            for cert in ("ca", "host"):
                end = one(samples, "mosquitto_ha_certificate_not_after_timestamp_seconds", certificate=cert)
                assert end > time.time() + 86400, f"{name}: {cert} certificate ends at {end}"


def _flag(samples, name, **labels):
    """The one value of a metric, or None when the round has none (a mosquitto that did not answer has no $SYS
    figures)."""
    found = values(samples, name, **labels)
    return next(iter(found.values())) if len(found) == 1 else None


def _every_broker_up(cluster, samples, name):
    """A problem message unless metric `name` has one sample per broker and every one is 1, else None."""
    found = values(samples, name)
    if len(found) != len(cluster.brokers) or not all(v == 1 for v in found.values()):
        return f"{name}: {found}"
    return None


def _not_up(cluster, name, samples):
    """What a scrape of a broker or the bridge master shows as not up, as a list of messages (empty: all up)."""
    problems = []
    if _flag(samples, "mosquitto_ha_unit_active", unit="mosquitto.service") != 1:
        problems.append("mosquitto.service is not active")
    if _flag(samples, "mosquitto_ha_mosquitto_up") != 1:
        problems.append("mosquitto does not answer")
    # $SYS/broker/uptime is 0 until mosquitto's first $SYS round after a start.
    if (_flag(samples, "mosquitto_ha_mosquitto_uptime_seconds") or 0) <= 0:
        problems.append("no uptime")
    # Every broker holds at least the bridge master's connection.
    if name in cluster.brokers and (_flag(samples, "mosquitto_ha_mosquitto_clients_connected") or 0) < 1:
        problems.append("no client connected")
    if name in cluster.bridge:
        if _flag(samples, "mosquitto_ha_bridge_active") != 1:
            problems.append("the bridge is not active")
        problems.append(_every_broker_up(cluster, samples, "mosquitto_ha_bridge_link_up"))
    return [p for p in problems if p]


def test_brokers_and_bridge_links_are_up(cluster, healthy_since):
    """Every broker and the bridge master are up with all bridge links."""
    for name, address in {**cluster.brokers, **cluster.bridge}.items():
        problems, _samples = until_all_up(address, healthy_since,
                                          lambda samples, name=name: _not_up(cluster, name, samples))
        assert not problems, f"{name}: {problems}"


def _lb_problems(cluster, samples):
    problems = []
    if _flag(samples, "mosquitto_ha_unit_active", unit="nginx.service") != 1:
        problems.append("nginx.service is not active")
    problems.append(_every_broker_up(cluster, samples, "mosquitto_ha_upstream_up"))
    return [p for p in problems if p]


def test_exactly_one_load_balancer_holds_the_vip(cluster, healthy_since):
    held, master = {}, {}
    for name, address in cluster.loadbalancers.items():
        problems, samples = until_all_up(address, healthy_since, lambda samples: _lb_problems(cluster, samples))
        assert not problems, f"{name}: {problems}"
        held[name] = one(samples, "mosquitto_ha_vip_held", vip=cluster.vip)
        master[name] = one(samples, "mosquitto_ha_vrrp_state", state="MASTER")
    assert sum(held.values()) == 1, held
    assert held == master, f"the VIP holder is not the VRRP master: {held} {master}"


def test_a_broker_taken_down_shows_as_down(cluster):
    """With its watchdog paused, a stopped broker stays down: its own exporter, the bridge master's links and the
    load balancers' upstreams say so within a collector round, and all say up again once it is back."""
    name, address = list(cluster.brokers.items())[0]
    host = cluster.host(name)
    pause = "/run/mosquitto-ha/watchdog-pause/mosquitto.service"
    host.check_output(f"mkdir -p {pause.rsplit('/', 1)[0]} && touch {pause} && systemctl stop mosquitto")
    try:
        stopped = time.time()
        own = fresh_scrape(address, stopped)
        assert one(own, "mosquitto_ha_mosquitto_up") == 0
        assert one(own, "mosquitto_ha_unit_active", unit="mosquitto.service") == 0
        for bridge in cluster.bridge.values():
            down = wait_until(lambda: (s := _fresh(bridge, stopped)) and [
                v for labs, v in values(s, "mosquitto_ha_bridge_link_up").items() if name in dict(labs)["connection"]
            ] == [0], ROUND, interval=1)
            assert down, f"the bridge master's link to {name} does not show as down"
        for lb in cluster.loadbalancers.values():
            samples = fresh_scrape(lb, stopped)
            assert one(samples, "mosquitto_ha_upstream_up", upstream=name) == 0
    finally:
        host.check_output(f"systemctl start mosquitto && rm -f {pause}")
    started = time.time()
    for bridge in cluster.bridge.values():
        up = wait_until(lambda: (s := _fresh(bridge, started)) and all(
            v == 1 for v in values(s, "mosquitto_ha_bridge_link_up").values()), 2 * ROUND, interval=1)
        assert up, f"the bridge master's link to {name} does not show as up again"
    assert one(fresh_scrape(address, started), "mosquitto_ha_mosquitto_up") == 1


def test_alert_rules_pass_promtool(cluster):
    """promtool (from Debian's package, unpacked on a broker, not installed) checks the rules and runs their unit
    tests: each alert fires on its fault and not without it."""
    host = cluster.host(list(cluster.brokers)[0])
    rules_dir = "/var/tmp/mosquitto-ha-rules"  # the containers' /tmp is noexec
    files = ("prometheus-alerts.yml", "prometheus-alerts.test.yml")
    root = pathlib.Path(__file__).resolve().parents[3] / "roles" / "metrics" / "files"
    host.check_output(f"rm -rf {rules_dir} && mkdir -p {rules_dir}/deb")
    for f in files:
        content = (root / f).read_text(encoding="utf-8")
        host.check_output(f"cat > {rules_dir}/{f} <<'MOSQUITTO_HA_EOF'\n{content}MOSQUITTO_HA_EOF")
    # Debian 13 has promtool in a package of its own; Debian 12 ships it in the prometheus package.
    host.check_output(
        f"cd {rules_dir}/deb && (apt-get download -q promtool 2>/dev/null || apt-get download -q prometheus) "
        "&& for d in *.deb; do dpkg-deb -x \"$d\" root; done")
    promtool = f"{rules_dir}/deb/root/usr/bin/promtool"
    assert host.file(promtool).exists, "no /usr/bin/promtool in the package"
    check = host.run(f"cd {rules_dir} && {promtool} check rules prometheus-alerts.yml")
    assert check.rc == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout + check.stderr
    test = host.run(f"cd {rules_dir} && {promtool} test rules prometheus-alerts.test.yml")
    host.run(f"rm -rf {rules_dir}")
    assert test.rc == 0, test.stdout + test.stderr
