"""The DRAT checker against real proofs from every PySAT solver that emits them, and against
corrupted and hand-written proofs."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pysat.examples.genhard import PHP
from pysat.solvers import Solver

from tests.ordinary_user import ORDINARY_GID, ORDINARY_UID, as_ordinary_user
from verifiers import drat
from verifiers.drat import check_drat
from verifiers.sat import PROOF_SOLVERS, read_dimacs

SHARED_UNSAT = ("uuf50-218/uuf50-01.cnf", "uuf50-218/uuf50-02.cnf", "pigeonhole/hole6.cnf", "pigeonhole/hole7.cnf")
TWO_BY_TWO = [[1, 2], [-1, 2], [1, -2], [-1, -2]]  # every assignment of two variables excluded


def formula(shared_data, relative: str) -> list[list[int]]:
    return read_dimacs((shared_data / "satlib" / relative).read_text())[1]


def proof_of(clauses: list[list[int]], solver: str) -> list[str]:
    with Solver(name=solver, bootstrap_with=clauses, with_proof=True) as engine:
        assert engine.solve() is False
        return engine.get_proof()


def random_unsat_3sat(seed: int, variables: int = 30, ratio: float = 6.0) -> list[list[int]]:
    """A random 3-SAT formula well above the threshold (almost surely UNSAT; asserted by solving)."""
    generator = random.Random(seed)
    clauses = []
    for _ in range(int(variables * ratio)):
        chosen = generator.sample(range(1, variables + 1), 3)
        clauses.append([v if generator.random() < 0.5 else -v for v in chosen])
    return clauses


@pytest.mark.parametrize("solver", PROOF_SOLVERS)
def test_proofs_of_every_proof_solver_are_certified_on_shared_unsat_instances(shared_data, solver):
    for relative in SHARED_UNSAT:
        clauses = formula(shared_data, relative)
        proof = proof_of(clauses, solver)
        result = check_drat(clauses, proof, 60)
        assert result.certified, f"{solver} on {relative}: {result.message}"
        assert result.valid and result.derived_empty and not result.timed_out
        assert 0 < result.checked_lemmas <= result.lemmas


@pytest.mark.parametrize("solver", PROOF_SOLVERS)
def test_proofs_of_every_proof_solver_are_certified_on_generated_instances(solver):
    generated = [PHP(5).clauses, random_unsat_3sat(1), random_unsat_3sat(2)]
    for clauses in generated:
        result = check_drat(clauses, proof_of(clauses, solver), 60)
        assert result.valid, f"{solver}: {result.message}"
        if solver != "maplecm":  # see the next test
            assert result.certified, f"{solver}: {result.message}"


def test_maplecm_proofs_may_lack_the_empty_clause_and_are_then_not_certified():
    clauses = random_unsat_3sat(1)
    proof = proof_of(clauses, "maplecm")
    assert "0" not in (line.strip() for line in proof)
    result = check_drat(clauses, proof, 60)
    assert result.valid and not result.derived_empty and not result.certified


def test_maplesat_proofs_are_not_proofs_of_the_input(shared_data):
    """maplesat logs lemmas over an extra variable whose defining clauses it never logs: rejected."""
    clauses = formula(shared_data, "uuf50-218/uuf50-01.cnf")
    proof = proof_of(clauses, "maplesat")
    assert any(abs(int(token)) == 51 for line in proof for token in line.split() if token != "d")
    assert not check_drat(clauses, proof, 60).valid


def test_a_proof_for_a_satisfiable_formula_is_rejected(shared_data):
    unsat, sat = formula(shared_data, "uuf50-218/uuf50-01.cnf"), formula(shared_data, "uf50-218/uf50-01.cnf")
    result = check_drat(sat, proof_of(unsat, "cadical153"), 60)
    assert not result.valid and not result.certified


def test_a_proof_for_another_cnf_is_rejected(shared_data):
    hole6 = formula(shared_data, "pigeonhole/hole6.cnf")
    # Dropping pigeon 7's "some hole" clause leaves 6 pigeons for 6 holes: satisfiable.
    weakened = [clause for clause in hole6 if sorted(clause) != [37, 38, 39, 40, 41, 42]]
    assert len(weakened) == len(hole6) - 1
    with Solver(name="glucose4", bootstrap_with=weakened) as engine:
        assert engine.solve() is True
    for solver in ("cadical153", "maplechrono", "lingeling"):
        result = check_drat(weakened, proof_of(hole6, solver), 60)
        assert not result.valid and not result.certified, solver
        assert "line" in result.message or "no conflict" in result.message


def test_a_bogus_lemma_is_rejected_naming_its_line():
    satisfiable = [[1, 2], [-1, 2], [1, -2]]
    result = check_drat(satisfiable, ["c a bogus claim", "-2 0", "0"], 10)
    assert not result.valid and not result.certified
    assert result.message.startswith("proof line 2: lemma `-2 0` is neither RUP nor RAT")


def test_a_truncated_proof_is_rejected(shared_data):
    clauses = formula(shared_data, "pigeonhole/hole7.cnf")
    proof = proof_of(clauses, "cadical153")
    result = check_drat(clauses, proof[: len(proof) // 2], 60)
    assert not result.certified and not result.valid
    assert "no conflict" in result.message
    cut_mid_clause = "\n".join(proof[:100]) + "\n1 2"
    result = check_drat(clauses, cut_mid_clause, 60)
    assert not result.valid and "ends inside a clause" in result.message


def test_a_proof_without_the_empty_clause_is_not_certified(shared_data):
    clauses = formula(shared_data, "pigeonhole/hole6.cnf")
    proof = [line for line in proof_of(clauses, "cadical153") if line.strip() != "0"]
    result = check_drat(clauses, proof, 60)
    assert result.valid and not result.derived_empty and not result.certified
    assert "no explicit empty clause" in result.message


def test_an_empty_clause_that_does_not_follow_is_rejected():
    result = check_drat(TWO_BY_TWO, ["0"], 10)
    assert not result.valid and "the empty clause is falsified" in result.message


def test_a_lemma_that_is_only_rat_is_accepted():
    # -3 is not RUP (assuming 3 propagates nothing), but RAT on -3: the only clause with 3 is
    # (3 1), whose resolvent (1) is RUP.
    result = check_drat(TWO_BY_TWO, ["3 1 0", "-3 0", "0"], 10)
    assert result.certified and result.rat_lemmas == 1 and result.checked_lemmas == 2


def test_a_failing_rat_check_is_rejected():
    satisfiable = [[1, 2], [-1, 2], [1, -2]]
    result = check_drat(satisfiable, ["-2 0", "0"], 10)
    assert not result.valid and "pivot -2" in result.message


# A formula where 2 is RUP but not derivable by propagation alone, and 3 needs 2 at the top level.
NEEDS_UNIT_2 = [[1, 2], [-1, 2], [-2, 3, 4], [-2, 3, -4], [-2, -3, 5], [-2, -3, -5]]


def test_unit_deletions_are_ignored():
    result = check_drat(NEEDS_UNIT_2, ["2 0", "d 2 0", "3 0", "0"], 10)
    assert result.certified, result.message
    assert result.ignored_deletions == 1


def test_deleting_the_reason_of_a_unit_is_ignored():
    clauses = [[1], [-1, 2]] + NEEDS_UNIT_2[2:]
    result = check_drat(clauses, ["d -1 2 0", "3 0", "0"], 10)
    assert result.certified, result.message
    assert result.ignored_deletions == 1


def test_other_deletions_take_effect():
    assert check_drat(TWO_BY_TWO, ["2 0", "0"], 10).certified
    result = check_drat(TWO_BY_TWO, ["d 1 -2 0", "2 0", "0"], 10)
    assert not result.valid and result.ignored_deletions == 0


def test_a_forced_tiny_time_limit_gives_an_uncertified_timeout(shared_data):
    clauses = formula(shared_data, "pigeonhole/hole7.cnf")
    proof = proof_of(clauses, "glucose4")
    result = check_drat(clauses, proof, 1e-4)
    assert result.timed_out and not result.valid and not result.certified
    assert "out of time" in result.message


def binary_drat(lines: list[str]) -> bytes:
    out = bytearray()
    for line in lines:
        tokens = line.split()
        out += b"d" if tokens[0] == "d" else b"a"
        for token in tokens[1:] if tokens[0] == "d" else tokens:
            literal = int(token)
            value = 2 * abs(literal) + (literal < 0) if literal else 0
            while value > 127:
                out.append(128 | (value & 127))
                value >>= 7
            out.append(value)
    return bytes(out)


def test_binary_drat_gives_the_same_verdict_as_text(shared_data):
    clauses = formula(shared_data, "uuf50-218/uuf50-03.cnf")
    proof = proof_of(clauses, "cadical153")
    text, binary = check_drat(clauses, proof, 60), check_drat(clauses, binary_drat(proof), 60)
    assert text.certified and binary.certified
    assert (text.lemmas, text.deletions, text.checked_lemmas) == (binary.lemmas, binary.deletions, binary.checked_lemmas)
    corrupted = binary_drat(proof)[:-3] + b"\x07"
    assert not check_drat(clauses, corrupted, 60).certified


def test_malformed_text_is_reported():
    assert "unexpected character" in check_drat(TWO_BY_TWO, ["2 x 0", "0"], 10).message
    assert check_drat(TWO_BY_TWO, "2 0\n0\n", 10).certified  # one string works as well as lines


def test_the_interpreted_checker_agrees_with_the_compiled_one(shared_data, tmp_path):
    """NUMBA_DISABLE_JIT runs the very same kernels as plain Python: both must give the same results."""
    hole6 = formula(shared_data, "pigeonhole/hole6.cnf")
    cases = [
        (hole6, proof_of(hole6, "cadical153")),
        (hole6, [line for line in proof_of(hole6, "maplechrono") if line.strip() != "0"]),
        (TWO_BY_TWO, ["3 1 0", "-3 0", "0"]),
        (NEEDS_UNIT_2, ["2 0", "d 2 0", "3 0", "0"]),
        ([[1, 2], [-1, 2], [1, -2]], ["-2 0", "0"]),
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    program = (
        "import json, sys\n"
        "from verifiers.drat import check_drat\n"
        "cases = json.load(open(sys.argv[1]))\n"
        "print(json.dumps([[r.valid, r.derived_empty, r.checked_lemmas, r.rat_lemmas, r.message]\n"
        "                  for r in (check_drat(c, p, 600) for c, p in cases)]))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    interpreted = subprocess.run([sys.executable, "-c", program, str(tmp_path / "cases.json")], capture_output=True,
                                 text=True, timeout=300, cwd=root, env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
                                 check=True)
    compiled = [[r.valid, r.derived_empty, r.checked_lemmas, r.rat_lemmas, r.message]
                for r in (check_drat(c, p, 600) for c, p in cases)]
    assert json.loads(interpreted.stdout) == compiled


def _check_in_a_fresh_interpreter(home: str, temporary: str) -> dict:
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    environment.update(HOME=home, TMPDIR=temporary)
    program = ("from verifiers.drat import check_drat\n"
               "print(check_drat([[1, 2], [-1, 2], [1, -2], [-1, -2]], ['2 0', '0'], 60).valid)\n")
    run = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True,
                         timeout=600, check=False)
    cached = sorted(path.name for path in Path(temporary).glob(f"veriloop-numba-{os.getuid()}/**/*.nbi"))
    in_tree = os.access(Path(drat.__file__).parent / "__pycache__", os.W_OK)
    return {"returncode": run.returncode, "stdout": run.stdout.strip(), "stderr": run.stderr[-400:], "cached": cached,
            "in_tree": in_tree}


def test_an_ordinary_user_whose_home_cannot_be_written_still_checks_proofs():
    # numba caches compiled kernels next to the source or in ~/.cache; an ordinary user can write
    # neither here, and the import used to fail ("no locator available"). Now the cache goes to a
    # private directory under the temp dir.
    home, temporary = Path(tempfile.mkdtemp(prefix="veriloop-home-")), Path(tempfile.mkdtemp(prefix="veriloop-tmp-"))
    try:
        home.chmod(0o555)  # readable, not writable (root owns it; so does the user when not root, but 0555)
        if os.geteuid() == 0:
            os.chown(temporary, ORDINARY_UID, ORDINARY_GID)
        result = as_ordinary_user(_check_in_a_fresh_interpreter, str(home), str(temporary), home=home, timeout_s=600)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(temporary, ignore_errors=True)
    assert result["returncode"] == 0 and result["stdout"] == "True", result["stderr"]
    assert result["cached"] or result["in_tree"], "the kernels were cached in the private directory"
