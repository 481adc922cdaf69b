"""`python -m agent`: solve, eval, schema, convert, and bad input as one line with exit status 2."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.tasks import load_task
from agent.trace import ResultEvent, read_trace

REPO = Path(__file__).resolve().parent.parent
CODE2INV = REPO / "tasks" / "code2inv"


def agent(*arguments: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_solve_prints_verdict_invariant_and_trace(tmp_path: Path) -> None:
    done = agent("solve", str(CODE2INV / "93.yaml"), "--sources", "symbolic,dynamic", "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "verdict: solved" in done.stdout
    invariant = next(line for line in done.stdout.splitlines() if line.startswith("invariant: "))
    assert "3 * i == x + y" in invariant
    trace = Path(done.stdout.split("trace: ")[1].strip())
    events = read_trace(trace)
    assert events[0].task_id == "code2inv/93" and events[0].sources == ["symbolic", "dynamic"]
    assert isinstance(events[-1], ResultEvent) and events[-1].status == "solved"


def test_solve_reports_a_refuted_task_with_exit_status_1(tmp_path: Path) -> None:
    done = agent("solve", str(CODE2INV / "72.yaml"), "--sources", "symbolic", "--runs-dir", str(tmp_path))
    assert done.returncode == 1
    assert "verdict: refuted" in done.stdout and "no invariant can prove it" in done.stdout


def _bad_task(tmp_path: Path, name: str, mutate) -> Path:
    data = yaml.safe_load((CODE2INV / "1.yaml").read_text())
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.yaml", "no such task file"),
    (lambda tmp: (tmp / "bad.yaml").write_text("id: [unclosed\n") and tmp / "bad.yaml", "YAML error at line"),
    (lambda tmp: _bad_task(tmp, "kind.yaml", lambda d: d.update(kind="sudoku-ish")), "unknown task kind 'sudoku-ish'"),
    (lambda tmp: _bad_task(tmp, "extra.yaml", lambda d: d.update(colour="red")), "colour: Extra inputs are not permitted"),
    (lambda tmp: _bad_task(tmp, "nokind.yaml", lambda d: d.pop("kind")), "missing `kind`"),
    (lambda tmp: _bad_task(tmp, "budget.yaml", lambda d: d["budget"].update(max_proposals=0)), "budget.max_proposals"),
    (lambda tmp: _bad_task(tmp, "program.yaml", lambda d: d.update(program="int main() { int x; x = 1; }")),
     "exactly one top-level `while` loop"),
    (lambda tmp: _bad_task(tmp, "syntax.yaml", lambda d: d.update(program="int main() { while (x < ) {} }")),
     "C syntax error"),
    (lambda tmp: _bad_task(tmp, "template.yaml", lambda d: d.update(vc_template="(set-logic LIA)")),
     "vc_template"),
])
def test_bad_task_files_give_one_line_and_exit_status_2(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    runs = tmp_path / "runs"
    done = agent("solve", str(path), "--sources", "symbolic", "--runs-dir", str(runs))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not runs.exists(), "nothing is written for bad input"


@pytest.mark.parametrize("arguments, message", [
    (["--model", "/no/such/model"], "model '/no/such/model': no such directory"),
    (["--model", "nobody/no-such-model"], "not in the local Hugging Face cache"),
    (["--sources", "llm,oracle"], "unknown source(s) oracle"),
    (["--samples", "0"], "--samples"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_options_give_one_line_and_exit_status_2(tmp_path: Path, arguments: list[str], message: str) -> None:
    done = agent("solve", str(CODE2INV / "1.yaml"), "--runs-dir", str(tmp_path / "runs"), *arguments)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "runs").exists()


def test_schema_prints_the_task_schema() -> None:
    done = agent("schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert "invariant" in json.dumps(schema)
    assert json.loads(agent("schema", "trace").stdout)


def test_convert_reports_broken_files_by_name_and_converts_the_rest(tmp_path: Path, shared_data: Path) -> None:
    source = tmp_path / "bench"
    (source / "c").mkdir(parents=True)
    (source / "c_smt2").mkdir()
    for number in ("1", "93"):
        shutil.copy(shared_data / "code2inv" / "c" / f"{number}.c", source / "c")
        shutil.copy(shared_data / "code2inv" / "c_smt2" / f"{number}.c.smt", source / "c_smt2")
    (source / "c" / "7.c").write_text("int main() { int x; for (;;) {} }")  # unsupported program
    shutil.copy(shared_data / "code2inv" / "c_smt2" / "1.c.smt", source / "c_smt2" / "7.c.smt")
    (source / "c" / "8.c").write_text((shared_data / "code2inv" / "c" / "1.c").read_text())
    (source / "c_smt2" / "8.c.smt").write_text("(set-logic LIA)\n")  # broken template
    (source / "c" / "9.c").write_text((shared_data / "code2inv" / "c" / "1.c").read_text())  # no template
    destination = tmp_path / "tasks"
    done = agent("convert", "code2inv", str(source), str(destination), "--name", "mini")
    assert done.returncode == 0
    assert "converted 4 task(s)" in done.stdout and "2 from the program alone; 1 failed" in done.stdout
    failed = {line.split(":")[1].strip() for line in done.stderr.splitlines() if line.startswith("not converted")}
    assert failed == {"7"}
    # A broken or missing template: the program alone is the task, and the user is told why.
    program_only = {line.split(":")[1].strip() for line in done.stderr.splitlines() if line.startswith("template not used")}
    assert program_only == {"8", "9"}
    assert len(done.stderr.splitlines()) == 3
    suite = yaml.safe_load((destination / "suite.yaml").read_text())
    assert suite["tasks"] == ["1.yaml", "8.yaml", "9.yaml", "93.yaml"]
    assert yaml.safe_load((destination / "93.yaml").read_text())["id"] == "mini/93"
    for name in ("8", "9"):
        task = yaml.safe_load((destination / f"{name}.yaml").read_text())
        assert "vc_template" not in task and task["program"] == (source / "c" / f"{name}.c").read_text()
        assert "(define-fun inv-f" in load_task(destination / f"{name}.yaml").vc_template  # the program's own


def test_converted_suite_matches_the_shared_benchmark(shared_data: Path) -> None:
    programs = sorted(p.stem for p in (shared_data / "code2inv" / "c").glob("*.c"))
    suite = yaml.safe_load((CODE2INV / "suite.yaml").read_text())
    assert sorted(Path(name).stem for name in suite["tasks"]) == programs
    for name in programs[:10]:
        task = yaml.safe_load((CODE2INV / f"{name}.yaml").read_text())
        assert task["program"] == (shared_data / "code2inv" / "c" / f"{name}.c").read_text()
        assert task["vc_template"] == (shared_data / "code2inv" / "c_smt2" / f"{name}.c.smt").read_text()


def test_eval_runs_a_suite_in_parallel_and_resumes(tmp_path: Path) -> None:
    suite_dir = tmp_path / "suite"
    suite_dir.mkdir()
    for number in ("1", "26", "93"):
        shutil.copy(CODE2INV / f"{number}.yaml", suite_dir)
    runs = tmp_path / "runs"
    done = agent("eval", str(suite_dir), "--workers", "2", "--sources", "symbolic,dynamic", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    run_dir = next(runs.iterdir())
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    assert sorted((row["task_id"], row["status"]) for row in rows) == [
        ("code2inv/1", "solved"), ("code2inv/26", "refuted"), ("code2inv/93", "solved")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["solved"] == 2 and summary["refuted"] == 1 and summary["tasks"] == 3
    assert "median s" in done.stdout and "p95 s" in done.stdout
    for row in rows:
        assert read_trace(Path(row["trace"]))[-1].status == row["status"]

    # Resume after losing one row: only that task runs again.
    kept = [row for row in rows if row["task_id"] != "code2inv/26"]
    with (run_dir / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    again = agent("eval", str(suite_dir), "--sources", "symbolic,dynamic", "--runs-dir", str(runs), "--resume", run_dir.name)
    assert again.returncode == 0, again.stderr
    lines = [line for line in again.stdout.splitlines() if line.startswith("  code2inv/")]
    assert [line.split()[0] for line in lines] == ["code2inv/26"]
    assert len(list(csv.DictReader((run_dir / "results.csv").open()))) == 3


def test_eval_of_a_missing_suite_is_bad_input(tmp_path: Path) -> None:
    done = agent("eval", str(tmp_path / "nothing"), "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode == 2 and "no such suite" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_view_summarises_a_trace_and_writes_html(tmp_path: Path) -> None:
    done = agent("solve", str(CODE2INV / "1.yaml"), "--sources", "symbolic", "--runs-dir", str(tmp_path))
    run_dir = Path(done.stdout.split("trace: ")[1].strip()).parent
    shown = agent("view", str(run_dir))
    assert shown.returncode == 0 and "houdini" in shown.stdout and "result: solved" in shown.stdout
    page = tmp_path / "trace.html"
    written = agent("view", str(run_dir), "--html", str(page))
    assert written.returncode == 0
    html = page.read_text()
    assert "<h1>code2inv/1" in html and "accepted" in html and "x &gt;= " in html  # escaped
    assert agent("view", str(tmp_path / "nothing")).returncode == 2
