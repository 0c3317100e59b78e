# Copyright: mosquitto-ha maintainers
# MIT License (see LICENSE)
"""Filters that turn what the status playbook read on every host into one table and a list of problems."""

from __future__ import annotations

import datetime
import re
import time

DOCUMENTATION = r"""
name: status
short_description: Aggregate the cluster's status (brokers, bridge links, VIP, watchdogs, certificates) into rows and problems
version_added: 0.4.0
description:
  - This plugin file provides the filters C(cluster_status) and C(status_table), used by the playbook
    C(mosquitto_ha.cluster.status).
  - C(cluster_status) takes the raw readings of every host (a dict host name -> readings, as the playbook collects
    them) and the cluster's layout, and returns C(rows) (one per host and aspect) and C(problems) (one line each,
    naming the host, link or certificate). A host without readings is unreachable, which is a problem.
  - A problem is anything degraded, among them a service that is not active, a bridge link whose state is not 1,
    the VIP on no node or on two, a certificate within the renewal window, an end-to-end message that did not
    reach every broker, and a daemon still due for a restart that a run of site.yml left undone (C(restart_due) in
    a host's readings, the daemons whose restart mark is present).
  - C(status_table) renders the rows as aligned text lines.
options:
  _input:
    description: For C(cluster_status), a dict host name -> readings; for C(status_table), the result of C(cluster_status).
    type: dict
    required: true
  layout:
    description:
      - Dict with keys C(brokers), C(bridge), C(loadbalancers) (lists of host names), C(vip) (the VIP) and
        C(e2e) (the end-to-end check, a dict with C(topic), C(publisher) and C(published)).
    type: dict
  now:
    description: Seconds since the epoch to compare certificate end dates with; default the current time.
    type: float
author:
  - mosquitto-ha maintainers
"""

EXAMPLES = r"""
- name: Aggregate the readings of every host
  ansible.builtin.set_fact:
    status: >-
      {{ dict(hosts | zip(hosts | map('extract', hostvars, '__status_raw') | map('default', none)))
         | mosquitto_ha.cluster.cluster_status({'brokers': groups['brokers'], 'bridge': groups['bridge'],
                                                'loadbalancers': groups['loadbalancers'], 'vip': cluster_vip}) }}

- name: Print the table
  ansible.builtin.debug:
    msg: "{{ status | mosquitto_ha.cluster.status_table }}"
"""

RETURN = r"""
_value:
  description:
    - C(cluster_status) returns a dict with C(ok) (bool), C(rows) (list of dicts with C(component), C(host),
      C(check), C(value), C(status) OK or PROBLEM), C(problems) (list of str) and C(summary) (dict of figures).
    - C(status_table) returns a list of str, the header and one line per row.
  type: raw
"""

SYS_PREFIX = "$SYS/broker/"


def parse_sys(text):
    """`mosquitto_sub -v` output ("topic payload" per line) -> {topic without $SYS/broker/: payload}."""
    values = {}
    for line in (text or "").splitlines():
        topic, _sep, payload = line.partition(" ")
        if topic.startswith(SYS_PREFIX):
            values[topic[len(SYS_PREFIX):]] = payload.strip()
    return values


def parse_bridge_conf(text):
    """Lines of bridge.conf (the host comments, connection, address, remote_clientid) -> list of links."""
    links, host = [], None
    for line in (text or "").splitlines():
        line = line.strip()
        if re.match(r"^# \S+$", line):
            host = line[2:]
        elif line.startswith("connection "):
            links.append({"name": line.split(None, 1)[1], "host": host, "address": "", "remote_clientid": ""})
        elif links and line.startswith("address "):
            links[-1]["address"] = line.split(None, 1)[1]
        elif links and line.startswith("remote_clientid "):
            links[-1]["remote_clientid"] = line.split(None, 1)[1]
    return links


def parse_restarts(text):
    """Watchdog journal lines -> list of {time, unit, reason, limited}: restarts and restarts refused by the rate
    limit."""
    events = []
    for line in (text or "").splitlines():
        stamp = line.split(None, 1)[0] if line.strip() else ""
        match = re.search(r"\s(\S+\.service): restarting: (.*)$", line)
        if match:
            events.append({"time": stamp, "unit": match.group(1), "reason": match.group(2), "limited": False})
            continue
        match = re.search(r"\s(\S+\.service): NOT restarting \((.*)\): already restarted", line)
        if match:
            events.append({"time": stamp, "unit": match.group(1), "reason": match.group(2), "limited": True})
    return events


def _days_left(not_after, now):
    """Whole days from `now` (epoch seconds) to an ASN.1 time like 20281231235959Z, or None."""
    try:
        end = datetime.datetime.strptime(not_after, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None
    return int((end.timestamp() - now) // 86400)


def _duration(seconds):
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _number(text):
    try:
        return float(str(text).split()[0])
    except (ValueError, IndexError):
        return None


class _Report:
    def __init__(self):
        self.rows, self.problems = [], []

    def add(self, component, host, check, value, problem=None):
        self.rows.append({"component": component, "host": host, "check": check, "value": value,
                          "status": "PROBLEM" if problem else "OK"})
        if problem:
            self.problems.append(problem)


def status_unit(unit, services):
    """A unit's entry in ansible.builtin.service_facts' services -> Id, LoadState, ActiveState and SubState.
    service_facts tells running from stopped, and failed when systemd says so."""
    entry = (services or {}).get(unit)
    if not entry:
        return {"Id": unit, "LoadState": "not-found", "ActiveState": "inactive", "SubState": ""}
    if entry.get("state") == "running":
        active = "active"
    else:
        active = "failed" if entry.get("status") == "failed" else "inactive"
    return {"Id": unit, "LoadState": "loaded", "ActiveState": active, "SubState": entry.get("state", "")}


def parse_units(units_list):
    """status_unit entries -> {unit without .service: {active, sub}}."""
    units = {}
    for props in units_list or []:
        if props.get("Id"):
            units[props["Id"].removesuffix(".service")] = {
                "active": props.get("ActiveState", "unknown") if props.get("LoadState") != "not-found"
                else "not installed",
                "sub": props.get("SubState", "")}
    return units


def _service(raw, unit):
    state = parse_units(raw.get("units")).get(unit) or {}
    return state.get("active", "unknown"), state.get("sub", "")


def parse_loadbalancer(lb, vip):
    """The load balancer's raw readings -> (VIP held, VRRP version, advert interval, last VRRP state)."""
    held = bool(vip) and re.search(rf"\binet {re.escape(str(vip))}/", lb.get("addresses") or "") is not None
    conf = lb.get("keepalived_conf") or ""
    version = re.search(r"vrrp_version\s+(\S+)", conf)
    advert = re.search(r"advert_int\s+(\S+)", conf)
    state = re.search(r"(?:now|Entering) (MASTER|BACKUP|FAULT|STOP)", lb.get("vrrp_journal") or "")
    # keepalived's default is VRRP version 2 when the configuration does not say.
    return (held, version.group(1) if version else "2", advert.group(1) if advert else "1",
            state.group(1) if state else None)


def status_cert(result):
    """One result of community.crypto.x509_certificate_info (looped over paths) -> the fields the report needs."""
    path = str(result.get("item", "?"))
    name = path.rsplit("/", 1)[-1].removesuffix(".crt")
    entry = {"path": path, "name": "ca" if name == "ca" else "host", "not_after": result.get("not_after")}
    if result.get("failed") or not result.get("not_after"):
        entry["error"] = str(result.get("msg") or "no end date")
    return entry


def status_upstream(result):
    """One result of ansible.builtin.wait_for (looped over broker endpoints) -> name, address, port, reachable."""
    item = result.get("item") or {}
    return {"name": item.get("name"), "address": item.get("address"), "port": item.get("port"),
            "reachable": not result.get("failed") and "msg" not in result and "elapsed" in result}


def _mosquitto(report, host, raw, role, standby_pair):
    """Broker or bridge master row; returns the parsed $SYS values (empty when unread)."""
    mosq = raw.get("mosquitto") or {}
    active, sub = _service(raw, "mosquitto")
    vrrp = (mosq.get("bridge_state") or "").strip()
    if standby_pair and active != "active" and vrrp != "MASTER":
        report.add(role, host, "mosquitto", f"standby ({vrrp or 'no state'}, mosquitto {active})")
        return {}
    values = parse_sys(mosq.get("sys_out"))
    version = values.get("version", "").replace("mosquitto version ", "") or mosq.get("package_version") or "?"
    if active != "active":
        report.add(role, host, "mosquitto", f"{active} ({sub}), version {version}",
                   f"{host}: mosquitto is {active} ({sub})")
        return {}
    if not values:
        error = (mosq.get("sys_err") or "no answer").strip().splitlines()
        report.add(role, host, "mosquitto", f"active, $SYS unread: {error[-1] if error else 'no answer'}",
                   f"{host}: mosquitto is active but its $SYS could not be read "
                   f"({error[-1] if error else 'no answer'})")
        return {}
    uptime = _number(values.get("uptime"))
    received = _number(values.get("load/messages/received/1min")) or 0.0
    sent = _number(values.get("load/messages/sent/1min")) or 0.0
    clients = values.get("clients/connected", "?")
    report.add(role, host, "mosquitto",
               f"active {version}, up {_duration(uptime) if uptime is not None else '?'}, {clients} clients, "
               f"in {received / 60:.1f}/s, out {sent / 60:.1f}/s")
    persistence = mosq.get("persistence") or {}
    if persistence.get("enabled"):
        if not persistence.get("exists"):
            report.add(role, host, "persistence", f"{persistence.get('path', '?')} missing",
                       f"{host}: persistence file {persistence.get('path', '?')} is missing")
        else:
            age = max(0.0, float(persistence.get("age", 0)))
            stale = float(persistence.get("stale_after", 0) or 0)
            problem = (f"{host}: persistence file {persistence.get('path')} last written {_duration(age)} ago"
                       if stale and age > stale else None)
            report.add(role, host, "persistence", f"written {_duration(age)} ago", problem)
    return values


def _links(report, host, raw, values):
    links = parse_bridge_conf((raw.get("mosquitto") or {}).get("bridge_conf"))
    if not links:
        report.add("bridge", host, "links", "no bridge connection configured",
                   f"{host}: no bridge connection configured")
        return 0, 0
    up = 0
    for link in links:
        state = values.get(f"connection/{link['remote_clientid']}/state")
        target = f"{link['host'] or '?'} ({link['address']})"
        if state == "1":
            up += 1
            report.add("bridge", host, f"link {link['name']}", f"up to {target}")
        else:
            shown = {"0": "down", None: "no state published"}.get(state, f"state {state}")
            report.add("bridge", host, f"link {link['name']}", f"{shown} to {target}",
                       f"bridge link {link['name']} ({host} -> {link['host'] or link['address']}) is "
                       f"{'down' if state == '0' else shown}")
    return up, len(links)


def _loadbalancer(report, host, raw, vip):
    lb = raw.get("lb") or {}
    held, version, advert, vrrp = parse_loadbalancer(lb, vip)
    for unit in ("nginx", "keepalived"):
        active, sub = _service(raw, unit)
        report.add("loadbalancer", host, unit, f"{active} ({sub})",
                   None if active == "active" else f"{host}: {unit} is {active} ({sub})")
    active, _sub = _service(raw, "keepalived")
    state = (vrrp or "unknown") if active == "active" else "STOPPED"
    problem = None
    if state == "FAULT":
        problem = f"{host}: keepalived is in FAULT state"
    elif state == "MASTER" and not held:
        problem = f"{host}: keepalived is MASTER but does not hold the VIP {vip}"
    report.add("loadbalancer", host, "vrrp",
               f"{state}, VIP {'held' if held else 'not held'}, VRRP v{version}, advert {advert} s", problem)
    for upstream in lb.get("upstreams") or []:
        name = f"{upstream.get('name')} {upstream.get('address')}:{upstream.get('port')}"
        if upstream.get("reachable"):
            report.add("loadbalancer", host, "upstream", f"{name} reachable")
        else:
            report.add("loadbalancer", host, "upstream", f"{name} unreachable",
                       f"{host}: upstream broker {name} is unreachable from this load balancer")
    return held


def _watchdog(report, host, raw):
    active, sub = _service(raw, "mosquitto-ha-watchdog")
    events = parse_restarts((raw.get("watchdog") or {}).get("journal"))
    restarts = [e for e in events if not e["limited"]]
    limited = [e for e in events if e["limited"]]
    value = f"{active}, {len(restarts)} restart{'s' if len(restarts) != 1 else ''} in 24 h"
    if restarts:
        value += ": " + "; ".join(f"{e['time']} {e['unit']}: {e['reason']}" for e in restarts[-3:])
    if limited:
        value += f"; {len(limited)} refused by the rate limit"
    report.add("watchdog", host, "restarts", value,
               None if active == "active" else f"{host}: the watchdog is {active} ({sub})")
    return len(restarts)


def _certificates(report, host, raw, now):
    renew = int(raw.get("renew_days", 30))
    for cert in raw.get("certs") or []:
        name = cert.get("name", "?")
        if cert.get("error") or not cert.get("not_after"):
            report.add("certificate", host, name, f"unreadable: {cert.get('error', 'no end date')}",
                       f"{host}: certificate {cert.get('path', name)} could not be read")
            continue
        days = _days_left(cert["not_after"], now)
        problem = None
        if days is None or days <= renew:
            problem = (f"{host}: certificate {cert.get('path', name)} expires in {days} days "
                       f"(renewal window {renew} days)")
        report.add("certificate", host, name, f"{days} days left", problem)


def _restart_due(report, host, raw):
    for daemon in raw.get("restart_due") or []:
        report.add("restart", host, daemon, "due: runs its old configuration",
                   f"{host}: {daemon} still runs its old configuration, its restart left due by a run that ended "
                   f"before it; run site.yml again to restart it")


def cluster_status(raws, layout, now=None):
    """Rows and problems of the whole cluster from each host's readings (see DOCUMENTATION)."""
    now = time.time() if now is None else float(now)
    raws = raws or {}
    report = _Report()
    brokers = list(layout.get("brokers") or [])
    bridges = list(layout.get("bridge") or [])
    lbs = list(layout.get("loadbalancers") or [])
    vip = layout.get("vip", "")
    summary = {"links_up": 0, "links": 0, "vip_holders": [], "watchdog_restarts": 0, "e2e_received": 0,
               "e2e_expected": 0}

    def reading(host, component):
        raw = raws.get(host)
        if not raw:
            report.add(component, host, "host", "unreachable", f"{host}: unreachable, nothing could be read")
        return raw

    for host in brokers:
        raw = reading(host, "broker")
        if raw:
            _mosquitto(report, host, raw, "broker", False)
    active_bridges = 0
    for host in bridges:
        raw = reading(host, "bridge")
        if not raw:
            continue
        values = _mosquitto(report, host, raw, "bridge", len(bridges) > 1)
        if values:
            active_bridges += 1
            up, total = _links(report, host, raw, values)
            summary["links_up"] += up
            summary["links"] += total
    if bridges and not active_bridges:
        report.problems.append(f"no bridge master relays: none of {', '.join(bridges)} runs mosquitto")
    for host in lbs:
        raw = reading(host, "loadbalancer")
        if raw and _loadbalancer(report, host, raw, vip):
            summary["vip_holders"].append(host)
    holders = summary["vip_holders"]
    if len(holders) != 1:
        where = "no node" if not holders else f"{len(holders)} nodes ({', '.join(holders)})"
        report.add("loadbalancer", "-", "VIP", f"{vip} on {where}", f"VIP {vip} is on {where}")
    else:
        report.add("loadbalancer", "-", "VIP", f"{vip} on {holders[0]}")
    for host in brokers + bridges + lbs:
        raw = raws.get(host)
        if raw:
            summary["watchdog_restarts"] += _watchdog(report, host, raw)
    for host in brokers + bridges + lbs:
        raw = raws.get(host)
        if raw:
            _certificates(report, host, raw, now)
            _restart_due(report, host, raw)
    _end_to_end(report, raws, layout, brokers, bridges, summary)
    return {"ok": not report.problems, "rows": report.rows, "problems": report.problems, "summary": summary}


def _end_to_end(report, raws, layout, brokers, bridges, summary):
    e2e = layout.get("e2e") or {}
    if not e2e:
        return
    publisher = e2e.get("publisher") or "-"
    if not e2e.get("published"):
        report.add("end-to-end", publisher, "publish", f"not published through the VIP: {e2e.get('error') or '?'}",
                   f"end-to-end: the message could not be published through the VIP ({e2e.get('error') or '?'})")
        return
    expected, missing = [], []
    for host in brokers + bridges:
        raw = raws.get(host) or {}
        if host in bridges and len(bridges) > 1 and _service(raw, "mosquitto")[0] != "active" \
                and (raw.get("mosquitto") or {}).get("bridge_state", "").strip() != "MASTER":
            continue  # a standby bridge master does not run mosquitto
        result = raw.get("e2e") or {"received": 0}
        expected.append(host)
        if int(result.get("received", 0)) >= 1:
            summary["e2e_received"] += 1
        else:
            missing.append(host)
    summary["e2e_expected"] = len(expected)
    value = (f"1 message via the VIP ({e2e.get('topic')}) received at {summary['e2e_received']}/{len(expected)} "
             f"brokers")
    if missing:
        value += f"; missing at {', '.join(missing)}"
    report.add("end-to-end", publisher, "delivery", value,
               f"end-to-end: the message published through the VIP did not reach {', '.join(missing)}"
               if missing else None)


def status_table(status):
    """The rows of cluster_status as aligned text lines."""
    columns = ("component", "host", "check", "value", "status")
    rows = [{c: str(row.get(c, "")) for c in columns} for row in status.get("rows") or []]
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns[:3]}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns[:3]) + "  STATUS   VALUE"]
    for row in rows:
        lines.append("  ".join(row[c].ljust(widths[c]) for c in columns[:3])
                     + f"  {row['status'].ljust(7)}  {row['value']}")
    verdict = "OK" if status.get("ok") else f"DEGRADED: {len(status.get('problems') or [])} problem(s)"
    lines.append(f"cluster: {verdict}")
    return lines


class FilterModule:
    def filters(self):
        return {"cluster_status": cluster_status, "status_table": status_table, "status_cert": status_cert,
                "status_unit": status_unit,
                "status_upstream": status_upstream}
