"""bench/run.py keeps the sections a partial run (--only) did not measure, each with when, at which commit and
by which command it was measured."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "e2e")]

import run  # noqa: E402

OLD = """# Benchmarks

Measured on 2026-11-20 by `make bench` (`python bench/run.py --no-ansible`) against the local lab: five

## Throughput: through the VIP vs straight to one broker

| QoS | direct |
| 0 | 20128 |

## Concurrent connections held through the VIP

*Measured 2026-11-21 at abc1234 by `python bench/run.py --only ramp`.*

held 25000

## Not measured

- Failover figures: not run.
"""


def test_sections_of_an_earlier_file_keep_or_get_their_provenance(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(OLD)
    sections = run.earlier_sections(path)
    assert set(sections) == {"throughput", "ramp"}  # "Not measured" is regenerated, never kept
    assert sections["throughput"][:4] == [
        "## Throughput: through the VIP vs straight to one broker", "",
        "*Measured 2026-11-20 by `python bench/run.py --no-ansible`.*", ""]
    assert "| 0 | 20128 |" in sections["throughput"]
    ramp = sections["ramp"]
    assert sum(run.PROVENANCE.match(line) is not None for line in ramp) == 1  # not given a second one
    assert "*Measured 2026-11-21 at abc1234 by `python bench/run.py --only ramp`.*" in ramp
    assert "held 25000" in ramp


def test_a_missing_file_has_no_sections(tmp_path):
    assert run.earlier_sections(tmp_path / "nothing.md") == {}


def test_a_new_section_gets_its_provenance_under_its_heading():
    lines = run.section_with_provenance(["## Failover", "", "| a |"], "Measured 2026-11-22 at f00 by `x`.")
    assert lines == ["## Failover", "", "*Measured 2026-11-22 at f00 by `x`.*", "", "| a |"]
    assert run.PROVENANCE.match(lines[2])
