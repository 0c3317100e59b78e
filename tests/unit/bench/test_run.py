"""bench/run.py without a lab: its options, the commands it would run, and a whole run with every measurement
faked (every section is measured, written with its provenance and the command that re-measures it)."""

import json
import pathlib
import subprocess
import sys
import types

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "e2e")]

import addbroker  # noqa: E402
import failover  # noqa: E402
import lab  # noqa: E402
import ramp  # noqa: E402
import run  # noqa: E402
import soak  # noqa: E402
import standby  # noqa: E402
from faults import Result  # noqa: E402


def test_defaults_measure_every_section_into_the_committed_report():
    bench = run.Run.from_args(run.parse_args([]))
    assert bench.only == list(run.SECTIONS)
    assert bench.output == (ROOT / "BENCHMARKS.md").resolve()
    assert bench.plots == run.PLOTS
    assert bench.ansible_file == run.SAVED_ANSIBLE
    assert (bench.ramp_steps, bench.failover_reps, bench.ramp_spare_brokers) == ([10000, 25000, 50000], 5, 2)
    assert bench.link("latency.png") == "bench/plots/latency.png"
    assert run.rerun_command(bench.args) == "python bench/run.py"


def test_another_output_keeps_its_plots_and_figures_next_to_it(tmp_path):
    bench = run.Run.from_args(run.parse_args(["--quick", "--output", str(tmp_path / "smoke.md")]))
    assert bench.plots == tmp_path / "smoke-plots"
    assert bench.ansible_file == tmp_path / "smoke-plots" / "ansible-figures.json"
    assert (bench.ramp_steps, bench.failover_reps, bench.ramp_spare_brokers) == ([1000, 3000], 1, 0)
    assert bench.link("latency.png") == "smoke-plots/latency.png"


def test_the_rerun_command_names_what_was_asked_for():
    args = run.parse_args(["--quick", "--no-ansible", "--only", "ramp, failover", "--ramp", "5,6",
                           "--failover-reps", "2", "--failover-faults", "broker_kill9", "--failover-vrrp2",
                           "--ansible-add-broker", "--ramp-hold", "3"])
    assert args.sections == ["ramp", "failover"]
    assert run.rerun_command(args) == ("python bench/run.py --quick --no-ansible --only ramp,failover --ramp 5,6 "
                                       "--failover-reps 2 --failover-faults broker_kill9 --failover-vrrp2 "
                                       "--ansible-add-broker")


def test_the_rerun_command_names_the_ramp_and_soak_options_given():
    args = run.parse_args(["--only", "ramp,soak", "--ramp-spare-brokers", "0", "--ramp-sources", "20",
                           "--soak-seconds", "60", "--ansible-reps", "3"])
    assert run.rerun_command(args) == ("python bench/run.py --only ramp,soak --soak-seconds 60 --ramp-spare-brokers 0 "
                                       "--ramp-sources 20 --ansible-reps 3")


def test_an_unknown_section_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "latency,speed"])
    assert "unknown sections ['speed']" in capsys.readouterr().err


def test_every_section_has_a_runner_and_a_heading():
    assert set(run.SECTION_RUNNERS) == set(run.SECTIONS) == set(run.SECTION_HEADINGS)


def test_the_playbook_command_uses_the_checkout_venv_and_collections():
    argv, env = lab.playbook_command("site.yml", lab.INVENTORY, "-e", "vip_unicast=true")
    assert argv == [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(ROOT / "inventories" / "lab"),
                    str(ROOT / "playbooks" / "site.yml"), "-e", "vip_unicast=true"]
    assert env["ANSIBLE_COLLECTIONS_PATH"] == str(ROOT / ".collections")


def test_credentials_are_the_inventory_user_and_the_generated_password(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setattr(lab, "PASSWORD_FILE", tmp_path / "pw")
    assert lab.credentials() == {"username": "lab", "password": "s3cret"}


class FakeProcess:
    """subprocess.Popen stand-in: records argv; a subscriber prints as many lines as it was told to count."""

    started = []

    def __init__(self, argv, stdin=None, **_kw):
        self.argv = argv
        FakeProcess.started.append(argv)
        count = int(argv[argv.index("-C") + 1]) if "-C" in argv else 0
        self.stdout = iter(["x\n"] * count)
        if stdin is not None:
            stdin.close()

    def wait(self, _timeout=None):
        return 0


def test_throughput_runs_one_subscriber_and_the_publishers_against_the_lab(monkeypatch, tmp_path):
    (tmp_path / "pw").write_text("pw")
    monkeypatch.setattr(lab, "PASSWORD_FILE", tmp_path / "pw")
    monkeypatch.setattr(run.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(run.time, "sleep", lambda _s: None)
    FakeProcess.started = []
    result = run.throughput("10.0.0.1", 1, 3, 50, sub_host="10.0.0.2")
    assert (result.received, result.sent) == (150, 150) and result.rate > 0
    sub, *pubs = FakeProcess.started
    login = ["-p", str(lab.PORT), "--cafile", str(lab.CAFILE), "-u", "lab", "-P", "pw"]
    assert sub[:11] == ["mosquitto_sub", "-h", "10.0.0.2", *login]
    assert sub[sub.index("-C") + 1] == "150" and sub[sub.index("-q") + 1] == "1"
    assert len(pubs) == 3
    assert all(p[:11] == ["mosquitto_pub", "-h", "10.0.0.1", *login] and "-l" in p for p in pubs)


def throughputs():
    rates = iter(range(1000, 100000, 37))

    def fake(_host, _qos, publishers, per_publisher, **_kw):
        return run.Throughput(float(next(rates)), publishers * per_publisher, publishers * per_publisher, 2.0)

    return fake


def takeover(cross):
    return Result(fault="bridge_node_kill", target="mqttlab-bridge", cross_s=cross, acked=10,
                  notes=["rejoined as standby"])


@pytest.fixture(name="faked")
def fixture_faked(monkeypatch, tmp_path):
    """Every measurement of run.py and of the modules it calls, faked; returns what the fakes were called with."""
    calls = {"site": [], "docker": [], "ramp": None, "series": 0, "soak": []}
    monkeypatch.setattr(run, "throughput", throughputs())
    monkeypatch.setattr(run, "latency", lambda pub, sub, count: sorted(i / 10 for i in range(count)))
    monkeypatch.setattr(run, "bridge_restart_window", lambda reps: [1.0 + i / 4 for i in range(reps)])
    monkeypatch.setattr(run, "set_bridge_autosave_on_changes", calls["docker"].append)
    monkeypatch.setattr(run, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", ""))
    monkeypatch.setattr(run, "plot_throughput", lambda *a: None)
    monkeypatch.setattr(run, "plot_latency", lambda *a: None)
    monkeypatch.setattr(run, "site", calls["site"].append)
    monkeypatch.setattr(run, "CAFILE", tmp_path)  # exists: the lab is "up"
    monkeypatch.setattr(run.shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(run, "ansible_figures", lambda reps: {
        "site.yml, re-run (changed=0)": [30.0 + i for i in range(reps)], "__rerun_changed": 0,
        "__profile": [["mosquitto_ha.cluster.broker : Install mosquitto", 2.5]]})

    cluster = types.SimpleNamespace(bridge={"mqttlab-bridge": "172.29.60.21"})
    monkeypatch.setattr(failover, "load_lab", lambda: cluster)
    monkeypatch.setattr(failover, "vrrp_settings", lambda _c: {
        "vrrp_version": "2" if calls["site"] else "3", "advert_int": "1", "unicast": False})

    def run_series(_cluster, reps, faults, time_limit):
        calls["series"] += 1
        calls.setdefault("faults", []).append(list(faults))
        return {f: [Result(fault=f, target="x", vip_s=0.5, recovery_s=1.0 + i, cross_s=None, acked=5)
                    for i in range(reps)] for f in faults}

    monkeypatch.setattr(failover, "run_series", run_series)
    monkeypatch.setattr(failover, "plot", lambda series, path: None)

    class FakeRamp:
        def __init__(self, cluster, steps, **kw):
            calls["ramp"] = (steps, kw)

        def run(self):
            return {"steps": []}

    monkeypatch.setattr(ramp, "Ramp", FakeRamp)
    monkeypatch.setattr(ramp, "plot", lambda result, path: False)
    monkeypatch.setattr(ramp, "section", lambda result, link: [
        "## Concurrent connections held through the VIP", "", "held 3000", ""])
    monkeypatch.setattr(standby, "measure", lambda throughput, repetitions, runs, per_pub, publishers: {
        "single": [throughput("b1", 1, publishers, per_pub) for _i in range(runs)],
        "pair": [throughput("b1", 1, publishers, per_pub) for _i in range(runs)],
        "pair_site_s": 40.0, "takeovers": [takeover(1.5 + i) for i in range(repetitions)]})

    def fake_soak(_cluster, duration):
        calls["soak"].append(duration)
        return soak.Soak(duration_s=duration, publishers=4, interval_s=0.05, sent=4800, acked=4800, probes=60,
                         samples=120, transitions={"mqttlab-lb1": 0, "mqttlab-lb2": 0},
                         vrrp={"vrrp_version": "3", "advert_int": "0.2", "unicast": False})

    monkeypatch.setattr(soak, "run", fake_soak)
    monkeypatch.setattr(addbroker, "measure", lambda log: {"add_broker.yml, 2 brokers": 60.0})
    return calls


def test_a_whole_run_without_a_lab_writes_every_section(faked, tmp_path, capsys):
    output = tmp_path / "B.md"
    assert run.main(["--quick", "--failover-vrrp2", "--ansible-add-broker", "--ramp", "1000,3000",
                     "--output", str(output)]) == 0
    text = output.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [next(n for n, h in run.SECTION_HEADINGS.items() if line.startswith(h)) for line in headings] == \
        list(run.SECTIONS)  # every section, in order, and no "Not measured"
    command = "python bench/run.py --quick --ramp 1000,3000 --failover-vrrp2 --ansible-add-broker"
    assert text.count(f" by `{command}`.*") == len(run.SECTIONS)
    assert "| 3 | 1.25 | 1.50 | 1.00, 1.25, 1.50 |" in text  # the restart window: median and max
    assert "**VRRP 2, advert_int 1, multicast (site.yml -e vip_vrrp_version=2 vip_advert_int=1; " \
           "the defaults before VRRP 3)**" in text
    assert "| 1 | 1.50 | 1.50 | 1.50 | one bridge master" in text  # the standby takeover
    assert "| add_broker.yml, 2 brokers | 60 |" in text
    assert "| site.yml, re-run (changed=0) | 30 | 30 | 1 |  | <= 30 |" in text  # --quick: one run
    assert "| mosquitto_ha.cluster.broker : Install mosquitto | 2.50 |" in text
    assert faked["soak"] == [60]  # --quick: a one-minute soak
    assert "| VRRP transitions logged by keepalived (mqttlab-lb1 0, mqttlab-lb2 0) | 0 |" in text
    assert "`python bench/run.py --no-ansible --only soak --soak-seconds 60`" in text
    assert "![latency](B-plots/latency.png)" in text
    assert faked["site"] == [["-e", "vip_vrrp_version=2", "-e", "vip_advert_int=1"], []]
    assert faked["series"] == 2 and faked["docker"] == [False, True, False]
    assert faked["faults"][1] == ["keepalived_stop", "lb_container_kill"]  # VRRP 2: the faults it decides
    steps, options = faked["ramp"]
    assert steps == [1000, 3000] and options["sources"] == 50 and options["hold"] == 15.0
    assert json.loads((tmp_path / "B-plots" / "ansible-figures.json").read_text())["add_broker.yml, 2 brokers"] == 60
    assert "latency 'same broker': n=300" in capsys.readouterr().out


def test_a_partial_run_keeps_the_other_sections(faked, tmp_path):
    output = tmp_path / "B.md"
    output.write_text((ROOT / "BENCHMARKS.md").read_text())
    run.main(["--quick", "--no-ansible", "--only", "window", "--output", str(output)])
    before = run.earlier_sections(ROOT / "BENCHMARKS.md")
    after = run.earlier_sections(output)
    assert set(after) == set(before)
    assert all(after[name] == lines for name, lines in before.items() if name != "window")
    assert "*Measured " in after["window"][2] and "by `python bench/run.py --quick --no-ansible --only window`" \
        in after["window"][2]


def test_no_saved_ansible_figures_leave_the_section_out(faked, tmp_path, monkeypatch):
    monkeypatch.setattr(run, "SAVED_ANSIBLE", tmp_path / "none.json")
    output = tmp_path / "B.md"
    run.main(["--no-ansible", "--only", "window,ansible", "--output", str(output)])
    text = output.read_text()
    assert "## Bridge master restart window" in text and "## Ansible" not in text


def test_the_ansible_figures_stand_next_to_the_previous_ones_and_the_targets(faked, tmp_path):
    output = tmp_path / "B.md"
    plots = tmp_path / "B-plots"
    plots.mkdir()
    (plots / "ansible-figures.json").write_text(json.dumps({  # an older file: one number per figure
        "site.yml, re-run (changed=0)": 184.2, "__measured": "2026-11-22"}))
    run.main(["--only", "ansible", "--ansible-reps", "5", "--output", str(output)])
    text = output.read_text()
    assert "| what | median | max | runs | previous (2026-11-22) | target |" in text
    assert "| site.yml, re-run (changed=0) | 32 | 34 | 5 | 184 | <= 30 |" in text
    saved = json.loads((plots / "ansible-figures.json").read_text())
    assert saved["site.yml, re-run (changed=0)"] == [30.0, 31.0, 32.0, 33.0, 34.0]
    assert saved["__previous"] == {"site.yml, re-run (changed=0)": 184.2}


def test_the_profile_is_read_off_the_tasks_recap():
    output = """PLAY RECAP ****
TASKS RECAP ********************************************************************
Sunday 06 December 2026  20:01:40 +0000 (0:00:00.054)       0:02:30.913 *******
===============================================================================
mosquitto_ha.cluster.vip : Install keepalived -------------------------- 10.19s
mosquitto_ha.cluster.pki : Install the Python cryptography library for key generation --- 2.27s
"""
    assert lab.slowest_tasks(output) == [["mosquitto_ha.cluster.vip : Install keepalived", 10.19],
                                         ["mosquitto_ha.cluster.pki : Install the Python cryptography library for "
                                          "key generation", 2.27]]
    assert lab.slowest_tasks("no recap") == []


def test_spare_brokers_join_for_the_ramp_and_leave_even_when_it_fails(monkeypatch):
    calls = []
    monkeypatch.setattr(addbroker, "SPARES", {"mqttlab-broker3": "172.29.60.13", "mqttlab-broker4": "172.29.60.14"})
    monkeypatch.setattr(addbroker, "_image", lambda: "image")
    monkeypatch.setattr(addbroker, "start_spare", lambda name, address, image: calls.append(("start", name)))
    monkeypatch.setattr(addbroker, "_run", lambda cmd, **kw: calls.append(tuple(cmd)))

    def playbook(name, inventory, *extra):
        groups = {g: sorted(v["hosts"]) for g, v in
                  yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"].items()}
        calls.append((name, groups.get("new_brokers") or groups.get("retiring_brokers"), extra))
        return 1.0, 0

    monkeypatch.setattr(addbroker.lab, "playbook", playbook)
    cluster = types.SimpleNamespace(brokers={"mqttlab-broker1": "172.29.60.11"})
    with addbroker.joined(cluster, 0) as same:
        assert same.brokers == {"mqttlab-broker1": "172.29.60.11"} and calls == []
    with pytest.raises(RuntimeError), addbroker.joined(cluster, 2, log=lambda _m: None):
        assert list(cluster.brokers) == ["mqttlab-broker1", "mqttlab-broker3", "mqttlab-broker4"]
        raise RuntimeError("the ramp failed")
    assert cluster.brokers == {"mqttlab-broker1": "172.29.60.11"}
    assert calls == [("start", "mqttlab-broker3"), ("start", "mqttlab-broker4"),
                     ("add_broker.yml", ["mqttlab-broker3", "mqttlab-broker4"], ()),
                     ("remove_broker.yml", ["mqttlab-broker3", "mqttlab-broker4"],
                      ("-e", "remove_broker_drain_timeout=10")),
                     ("docker", "rm", "-f", "mqttlab-broker3"), ("docker", "rm", "-f", "mqttlab-broker4")]
    with pytest.raises(ValueError):
        with addbroker.joined(cluster, 3):
            pass


def test_add_broker_timing_is_the_spares_joining_and_leaving(monkeypatch):
    monkeypatch.setattr(addbroker, "SPARES", {"mqttlab-broker3": "172.29.60.13", "mqttlab-broker4": "172.29.60.14"})
    monkeypatch.setattr(addbroker, "_image", lambda: "image")
    monkeypatch.setattr(addbroker, "start_spare", lambda name, address, image: None)
    removed = []
    monkeypatch.setattr(addbroker, "_run", lambda cmd, **kw: removed.append(cmd[-1]))
    seconds = iter([70.0, 46.0])
    monkeypatch.setattr(addbroker.lab, "playbook", lambda name, inventory, *extra: (next(seconds), 3))
    assert addbroker.measure(log=lambda _m: None) == {
        "add_broker.yml, 2 brokers": 70.0, "remove_broker.yml, 2 brokers (10 s drain)": 46.0,
        "__add_broker_note": "the spares are started before and deleted after; their container start is not counted."}
    assert removed == ["mqttlab-broker3", "mqttlab-broker4"]
