"""scripts/molecule-runs.sh (make test, make molecule): the runs go in lanes at once, one scenario's runs one after
the other in one lane; a failed run stops its lane only and is reported; bad arguments are refused before any run.
molecule and make are stand-ins here that record each run's start and end."""

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "molecule-runs.sh"
RUNS = ["make:preflight", "default:bookworm", "default:trixie:ssh", "failover:bookworm", "scale_out:bookworm"]

# A stand-in for molecule (test -s SCENARIO) and make (TARGET): records "start|end NAME TIME" in $RECORD, sleeps a
# little so that lanes overlap, and fails for the name in $FAIL.
STAND_IN = """#!/bin/sh
name="${3:-$1}${MOLECULE_DISTRO:+:$MOLECULE_DISTRO}${MOLECULE_ACCESS:+:$MOLECULE_ACCESS}"
echo "start $name $(date +%s.%N)" >> "$RECORD"
sleep 0.4
echo "end $name $(date +%s.%N)" >> "$RECORD"
if [ "$name" = "$FAIL" ]; then echo "E   assert the stand-in failed"; echo "== 1 failed in 0.4s =="; exit 1; fi
echo "== 3 passed in 0.4s =="
"""


def _run(tmp_path, *runs, fail="", jobs="2"):
    stand_in = tmp_path / "stand-in"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    record = tmp_path / "record"
    record.touch()
    env = dict(os.environ, MOLECULE=str(stand_in), MAKE=str(stand_in), RECORD=str(record), FAIL=fail,
               MOLECULE_JOBS=jobs, TMPDIR=str(tmp_path))
    proc = subprocess.run([str(SCRIPT), *runs], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    events = {}
    for line in record.read_text().splitlines():
        what, name, when = line.split()
        events.setdefault(name, {})[what] = float(when)
    return proc, events


def _lanes(output):
    lanes = {}
    for lane, what in re.findall(r"^=== \[lane (\d)\] (.+): started", output, re.M):
        lanes.setdefault(int(lane), []).append(what)
    return lanes


def test_lanes_run_at_once_and_a_scenarios_runs_share_one_lane(tmp_path):
    proc, events = _run(tmp_path, *RUNS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _lanes(proc.stdout) == {
        1: ["make preflight", "molecule failover on bookworm (docker)", "molecule scale_out on bookworm (docker)"],
        2: ["molecule default on bookworm (docker)", "molecule default on trixie (ssh)"],
    }
    assert len(re.findall(r"^=== \[lane \d\] .+ passed in \d+ s: 3 passed", proc.stdout, re.M)) == 5
    assert len(list(tmp_path.glob("*.log"))) == 5  # each run's log, kept
    # default's runs (same container names) one after the other; the lanes side by side.
    assert events["default:bookworm:docker"]["end"] <= events["default:trixie:ssh"]["start"]
    assert events["preflight"]["start"] < events["default:bookworm:docker"]["end"]
    assert events["default:bookworm:docker"]["start"] < events["preflight"]["end"]


def test_one_lane_runs_everything_in_the_order_given(tmp_path):
    proc, events = _run(tmp_path, *RUNS, jobs="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(_lanes(proc.stdout)) == [1]
    starts = sorted(events, key=lambda name: events[name]["start"])
    assert starts == ["preflight", "default:bookworm:docker", "default:trixie:ssh", "failover:bookworm:docker",
                      "scale_out:bookworm:docker"]


def test_a_failed_run_stops_its_lane_only_and_says_what_failed(tmp_path):
    proc, events = _run(tmp_path, *RUNS, fail="failover:bookworm:docker")
    assert proc.returncode == 1
    assert "=== [lane 1] molecule failover on bookworm (docker) FAILED (rc 1)" in proc.stdout
    assert "E   assert the stand-in failed" in proc.stdout
    assert "=== [lane 1] not run after that failure: scale_out:bookworm" in proc.stdout
    assert "scale_out:bookworm:docker" not in events
    # The other lane goes on to its end.
    assert "default:trixie:ssh" in events
    assert "=== [lane 2] molecule default on trixie (ssh) passed in" in proc.stdout


@pytest.mark.parametrize("runs, jobs, message", [
    (["nope:bookworm"], "2", "no molecule scenario 'nope'"),
    (["default:bookworm:tcp"], "2", "not a scenario:distro[:access] run"),
    (["default"], "2", "not a scenario:distro[:access] run"),
    (["default:bookworm:docker:x"], "2", "not a scenario:distro[:access] run"),
    (["make:Bad"], "2", "not a make:<target> run"),
    (["make:unit:x"], "2", "not a make:<target> run"),
    (["make:unit; rm -rf x"], "2", "not a make:<target> run"),
    (["default:bookworm"], "0", "MOLECULE_JOBS must be a positive whole number"),
    (["default:bookworm"], "two", "MOLECULE_JOBS must be a positive whole number"),
    ([], "2", "usage:"),
])
def test_bad_arguments_are_refused_before_any_run(tmp_path, runs, jobs, message):
    proc, events = _run(tmp_path, "failover:bookworm", *runs, jobs=jobs) if runs else _run(tmp_path, jobs=jobs)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert events == {}
