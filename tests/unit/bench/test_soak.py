"""bench/soak.py without a lab: what it reads off the VIP samples, and the section it writes."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "e2e")]

import soak  # noqa: E402


def test_a_steady_holder_is_no_move_and_no_gap():
    assert soak.holder_figures([("lb1",)] * 5) == (0, 0)


def test_moves_count_changes_of_the_single_holder_and_gaps_count_samples_without_one():
    samples = [("lb1",), ("lb1",), (), ("lb2",), ("lb1", "lb2"), ("lb2",), ("lb1",)]
    # lb1 -> lb2 (across the empty sample) and lb2 -> lb1; the empty and the double sample are the gaps
    assert soak.holder_figures(samples) == (2, 2)


def test_the_section_names_every_count_and_how_to_rerun_it():
    result = soak.Soak(duration_s=600, publishers=4, interval_s=0.05, sent=48000, acked=47990, lost=3, duplicates=2,
                       publisher_reconnects=1, probes=600, probes_failed=4, samples=1200, samples_not_one_holder=1,
                       vip_moves=1, transitions={"mqttlab-lb2": 1, "mqttlab-lb1": 2},
                       restarted=["mqttlab-lb1 nginx"], vrrp={"vrrp_version": "3", "advert_int": "0.2", "unicast": True})
    lines = soak.section(result, "python bench/run.py --no-ansible --only soak")
    text = "\n".join(lines)
    assert lines[0] == "## Soak"
    assert "600 s with no fault" in text and "VRRP 3 with advert_int 0.2 (unicast)" in text
    assert "| VRRP transitions logged by keepalived (mqttlab-lb1 2, mqttlab-lb2 1) | 3 |" in text
    assert "| VIP moves | 1 |" in text
    assert "| samples with no VIP holder or two | 1 of 1200 |" in text
    assert "| failed connects through the VIP | 4 of 600 |" in text
    assert "| acknowledged messages a subscriber did not get | 3 (of 47990 acknowledged) |" in text
    assert "| daemons restarted (main PID changed) | mqttlab-lb1 nginx |" in text
    assert "`python bench/run.py --no-ansible --only soak`" in text
    assert result.transitions_total == 3
