"""The CLI: bad input is one stderr line and exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from matching.optimizer.__main__ import main

from .helpers import at, instance, shift, volunteer


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "matching.optimizer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def _good():
    return instance([volunteer("v1")], [shift("s1", "09:00", "10:00")])


def _bad_cases():
    def mut(fn):
        doc = _good()
        fn(doc)
        return doc

    room = {
        "id": "sp1",
        "location": {"lat": 22.54, "lon": 114.06},
        "capacity": 5,
        "free": [{"start": at("08:00"), "end": at("12:00")}],
    }
    flex = {
        "id": "f1",
        "window": {"start": at("09:00"), "end": at("10:00")},
        "duration_min": 60,
        "step_min": 30,
        "location": {"lat": 22.54, "lon": 114.06},
        "headcount": 1,
        "priority": 1,
    }
    return {
        "missing field": mut(lambda d: d["shifts"][0].pop("start")),
        "missing volunteers": mut(lambda d: d.pop("volunteers")),
        "wrong type": mut(lambda d: d["shifts"][0].update(headcount="two")),
        "unknown fixed": mut(lambda d: d.update(fixed=[{"shift": "s9", "volunteer": "v1"}])),
        "unknown previous": mut(lambda d: d.update(previous=[{"shift": "s1", "volunteer": "x"}])),
        "unknown history": mut(
            lambda d: d.update(history=[{"volunteer": "x", "beneficiary": "r", "visits": 1}])
        ),
        "end before start": mut(lambda d: d["shifts"][0].update(end=at("08:00"))),
        "negative headcount": mut(lambda d: d["shifts"][0].update(headcount=-1)),
        "latitude": mut(lambda d: d["volunteers"][0]["location"].update(lat=91)),
        "longitude": mut(lambda d: d["shifts"][0]["location"].update(lon=-181)),
        "naive time": mut(lambda d: d["shifts"][0].update(start="2026-12-07T09:00:00")),
        "unknown space": mut(lambda d: d["shifts"].append({**flex, "spaces": ["nope"]})),
        "short window": mut(lambda d: d["shifts"].append({**flex, "duration_min": 90})),
        "zero step": mut(lambda d: d["shifts"].append({**flex, "step_min": 0})),
        "too many participants": mut(
            lambda d: (
                d.update(spaces=[room]),
                d["shifts"].append({**flex, "spaces": ["sp1"], "participants": 9}),
            )
        ),
        "wrong format": mut(lambda d: d.update(format="other/1")),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_bad_instances_exit_2_with_one_line(case, tmp_path, capsys):
    """In-process through ``main`` (fast); the subprocess path is covered below."""
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_bad_cases()[case]))
    for args in (["solve", str(path)], ["check", str(path), str(path)]):
        assert main(args) == 2, case
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("case", ["missing field", "unknown fixed", "latitude"])
def test_bad_instances_exit_2_in_a_subprocess(case, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_bad_cases()[case]))
    out = run("solve", str(path))
    assert out.returncode == 2, (case, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr


def test_malformed_and_unreadable_files(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_good()))
    for args in (
        ["solve", str(bad)],
        ["solve", str(tmp_path / "missing.json")],
        ["check", str(good), str(bad)],
        ["check", str(good), str(good)],  # an instance is not a solution
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    out = run("solve", str(bad))
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_bad_arguments_exit_2(capsys):
    for args in (
        ["generate", "--volunteers", "x", "--shifts", "3"],
        ["generate", "--volunteers", "3", "--shifts", "3", "--flexible", "2"],
        ["solve"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_generate_solve_check_round_trip(tmp_path: Path):
    gen = run(
        "generate", "--volunteers", "60", "--shifts", "40", "--seed", "3", "--flexible", "0.3"
    )
    assert gen.returncode == 0
    inst = tmp_path / "i.json"
    inst.write_text(gen.stdout)
    sol = tmp_path / "s.json"
    out = run("solve", str(inst), "--time-limit", "1", "--workers", "1", "--out", str(sol))
    assert out.returncode == 0, out.stderr
    doc = json.loads(sol.read_text())
    assert doc["format"] == "timebank.matching.solution/1"
    assert doc["status"] in ("OPTIMAL", "FEASIBLE")
    checked = run("check", str(inst), str(sol))
    assert checked.returncode == 0 and checked.stdout.startswith("ok"), checked.stdout
    # Stdout when no --out.
    again = run("solve", str(inst), "--time-limit", "1", "--workers", "1")
    assert json.loads(again.stdout)["format"] == "timebank.matching.solution/1"


def test_check_reports_violations_with_exit_1(tmp_path: Path):
    doc = instance(
        [volunteer("v1")], [shift("s1", "09:00", "10:30"), shift("s2", "10:00", "11:00")]
    )
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(doc))
    sol = {
        "format": "timebank.matching.solution/1",
        "status": "FEASIBLE",
        "assignments": [{"shift": "s1", "volunteer": "v1"}, {"shift": "s2", "volunteer": "v1"}],
        "unfilled": [],
        "objective": {"coverage": 8, "coverage_bound": 8},
        "solve_seconds": 0,
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(sol))
    out = run("check", str(inst), str(path))
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert any(line.startswith("rule 5:") and "s2" in line and "v1" in line for line in lines)
