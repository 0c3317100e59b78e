"""VRRP 3 over multicast (this scenario's settings: the defaults) hands the VIP over when its holder's keepalived stops; the
notify script logs the transition; the watchdog brings keepalived back and, with nopreempt, the VIP stays.
The `failover` scenario covers VRRP 3 over unicast under load. Runs near the end: it moves the VIP."""

import time

from mqttcheck import wait_until


def test_vip_moves_when_keepalived_stops_on_its_holder(cluster):
    before = cluster.vip_holders()
    assert len(before) == 1, before
    holder, other = before[0], [n for n in cluster.loadbalancers if n != before[0]][0]
    since = cluster.host(other).check_output("date '+%Y-%m-%d %H:%M:%S'")
    cluster.host(holder).check_output("systemctl stop keepalived")
    started = time.monotonic()
    assert wait_until(lambda: cluster.vip_holders() == [other], 15, interval=0.2), cluster.vip_holders()
    print(f"\nVIP moved from {holder} to {other} within {time.monotonic() - started:.1f} s (VRRP 3, multicast)")
    log = cluster.host(other).check_output(f"journalctl -t mosquitto-ha-vrrp --since '{since}' --no-pager -o cat")
    assert f"on {other}: now MASTER" in log, log

    # The watchdog restarts the stopped keepalived; nopreempt keeps the VIP where it is (no second move).
    assert wait_until(lambda: cluster.host(holder).service("keepalived").is_running, 15, interval=0.5)
    time.sleep(3)
    assert cluster.vip_holders() == [other]
    # And the cluster still answers through the VIP.
    client = cluster.client(cluster.vip, cluster.port).connect()
    client.close()
