"""The hostile corpus of `tests/hostile/sandbox/` (see its README) against the real encoding
verifiers, as root and as an ordinary user: every program gets `rejected`, `unknown` or `error`;
from outside, nothing was reached, changed, dropped or left running; and the trusted process goes
on to accept an honest proposal. Also: an encoding's UNSAT whose proof check ran out of time is
`unknown`, and what the faithfulness test cannot catch is recorded as tested, not proved."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

import verifiers.sat
from agent.tasks import load_task
from tests.encoding_references import SAT, SMT
from tests.ordinary_user import ORDINARY_GID, ORDINARY_UID, WHO, as_ordinary_user
from verifiers.base import REGISTRY, VerifyBudget
from verifiers.drat import check_drat

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "hostile" / "sandbox"
PROGRAMS = sorted(path.stem for path in CORPUS.glob("*.py"))
BUDGET = VerifyBudget(timeout_s=30)
MARK = "vl-hostile-left"
SECRET = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"
# For `detect` programs: the correct encoding, plus a contradiction when the program thinks it runs
# on the real instance (a false UNSAT that only a program telling the runs apart gets accepted).
LIAR = {
    "sat": "_emit = emit\n"
           "def emit(formula, variables):\n"
           "    clauses = [list(clause) for clause in getattr(formula, 'clauses', formula)]\n"
           "    _emit(clauses + ([[1], [-1]] if LIE else []), variables)\n",
    "smt": "_emit = emit\n"
           "def emit(formula, variables):\n"
           "    assertions = list(formula.assertions()) if isinstance(formula, Solver) else list(formula)\n"
           "    _emit(assertions + ([BoolVal(False)] if LIE else []), variables)\n",
}


def header(name: str) -> dict[str, str]:
    fields = {}
    for line in (CORPUS / f"{name}.py").read_text().splitlines():
        if not line.startswith("# ") or ":" not in line:
            break
        key, _, value = line[2:].partition(":")
        fields[key.strip()] = value.strip()
    return fields


class Stage:
    """What the hostile programs aim at: a user's secret and checkout, two listeners, a drop zone."""

    def __init__(self, owner: int, group: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="veriloop-hostile-"))
        self.root.chmod(0o777)  # anyone may write here, like the host's /tmp
        self.secret = self.root / "home" / ".ssh" / "id_ed25519"
        self.secret.parent.mkdir(parents=True)
        self.secret.write_text(SECRET)
        self.secret.chmod(0o600)
        self.writable = self.root / "checkout" / "verifiers" / "drat.py"
        self.writable.parent.mkdir(parents=True)
        shutil.copy(REPO / "verifiers" / "drat.py", self.writable)
        for path in (self.secret.parent.parent, self.secret.parent, self.secret, self.writable.parent.parent,
                     self.writable.parent, self.writable):
            os.chown(path, owner, group)
        self.writable_before = self.writable.read_bytes()
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.setblocking(False)
        self.unix_path = self.root / "agent.sock"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(str(self.unix_path))
        self.unix_path.chmod(0o777)
        self.unix.listen(8)
        self.unix.setblocking(False)
        self.tasks_before = {path: path.read_bytes() for path in (REPO / "tasks").rglob("*.yaml")}

    def program(self, name: str) -> tuple[str, str]:
        """(task file, program text) of a corpus entry, placeholders filled in."""
        fields = header(name)
        task = REPO / "tasks" / f"{fields['task']}.yaml"
        text = (CORPUS / f"{name}.py").read_text()
        for placeholder, value in {"@SECRET@": repr(str(self.secret)), "@WRITABLE@": repr(str(self.writable)),
                                   "@REPO@": repr(str(REPO)), "@TASK@": repr(str(task)),
                                   "@STAGE@": repr(str(self.root)), "@PORT@": str(self.tcp.getsockname()[1]),
                                   "@UNIX@": repr(str(self.unix_path)), "@MARK@": repr(MARK)}.items():
            text = text.replace(placeholder, value)
        suite, _ = fields["task"].split("/")
        family = load_task(task).family
        if fields["kind"] == "detect":
            text += "\n" + LIAR[suite]
        return str(task), text + "\n" + (SAT if suite == "sat" else SMT)[family]

    def reached(self) -> list[str]:
        """Everything the programs must not have managed, seen from outside."""
        found = []
        for name, listener in (("the loopback TCP listener", self.tcp), ("the UNIX socket", self.unix)):
            try:
                listener.accept()
                found.append(f"{name} got a connection")
            except BlockingIOError:
                pass
        if self.writable.read_bytes() != self.writable_before:
            found.append("the checkout's verifiers/drat.py changed")
        changed = [str(path) for path, data in self.tasks_before.items() if path.read_bytes() != data]
        found += [f"task file changed: {path}" for path in changed]
        found += [f"left in the shared directory: {path.name}" for path in self.root.iterdir()
                  if path.name not in ("home", "checkout", "agent.sock")]
        found += [f"a process outlived its call: {pid}" for pid in processes_mentioning(MARK)]
        return found

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()
        shutil.rmtree(self.root, ignore_errors=True)


def processes_mentioning(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark in (entry / "comm").read_text() or mark.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def verify_all(programs: list[tuple[str, str, str]]) -> dict[str, dict]:
    """Verdicts of (name, task file, program text), then of an honest proposal: the run goes on."""
    verdicts = {}
    for name, task_file, text in programs + [("honest", str(REPO / "tasks" / "sat" / "queens-8.yaml"), SAT["queens"])]:
        task = load_task(Path(task_file))
        verdict = REGISTRY.for_kind(task.kind).verify(task, text, BUDGET)
        verdicts[name] = {"status": verdict.status, "feedback": verdict.feedback,
                          "isolation": (verdict.details.sandbox or {}).get("isolation") if verdict.details else None}
    return verdicts


_results: dict[str, tuple[dict[str, dict], list[str]]] = {}


def results(who: str) -> tuple[dict[str, dict], list[str]]:
    """The corpus's verdicts as `who`, and what was reached from outside (computed once)."""
    if who not in _results:
        owner = (ORDINARY_UID, ORDINARY_GID) if who != "root" and os.geteuid() == 0 else (os.getuid(), os.getgid())
        stage = Stage(*owner)
        try:
            programs = [(name, *stage.program(name)) for name in PROGRAMS]
            run = verify_all if who == "root" else (lambda batch: as_ordinary_user(verify_all, batch, timeout_s=900))
            verdicts = run(programs)
            _results[who] = verdicts, stage.reached()
        finally:
            for pid in processes_mentioning(MARK):  # so that one failure does not leak into other tests
                os.kill(pid, 9)
            stage.close()
    return _results[who]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", PROGRAMS)
def test_a_hostile_program_gets_no_acceptance(who, name):
    verdicts, _ = results(who)
    verdict = verdicts[name]
    assert verdict["status"] in ("rejected", "unknown", "error"), (header(name)["what"], verdict)
    assert "UNSANDBOXED" not in (verdict["isolation"] or [])


@pytest.mark.parametrize("who", WHO)
def test_nothing_was_reached_from_outside_and_the_run_goes_on(who):
    verdicts, reached = results(who)
    assert reached == []
    assert verdicts["honest"]["status"] == "accepted", verdicts["honest"]


def test_an_unsat_whose_proof_check_runs_out_of_time_is_unknown(repo, monkeypatch):
    # The real checker, starved of time: the solver's UNSAT answer stays unchecked.
    monkeypatch.setattr(verifiers.sat, "check_drat", lambda clauses, proof, _limit: check_drat(clauses, proof, 0.0))
    task = load_task(repo / "tasks" / "sat" / "hole6.yaml")
    verdict = REGISTRY.for_kind(task.kind).verify(task, SAT["pigeonhole"], BUDGET)
    assert verdict.status == "unknown" and not verdict.certified, verdict.feedback
    assert "out of time" in verdict.feedback


def test_what_the_faithfulness_test_cannot_catch_is_recorded_as_tested_not_proved(repo):
    # A program that lies only on instances larger than every small one (8-queens has solutions):
    # its false UNSAT is accepted, and the verdict says exactly what backs it.
    task = load_task(repo / "tasks" / "sat" / "queens-8.yaml")
    program = "LIE = instance['n'] > 5\n" + LIAR["sat"] + SAT["queens"]
    verdict = REGISTRY.for_kind(task.kind).verify(task, program, BUDGET)
    assert verdict.status == "accepted" and verdict.details.answer == "unsat"
    assert verdict.details.faithfulness.proved is False
    assert verdict.details.faithfulness.method == "brute-force agreement"
    assert "tested, not proved" in verdict.feedback
