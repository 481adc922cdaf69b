"""Sandbox overhead per call, against plain subprocesses in the same run.

Each round runs every variant once, in turn, so that the load of the shared machine falls on all of
them alike; the figures are medians (and 90th percentiles) over the rounds, in milliseconds, as the
trusted process sees them (from the call to the result in hand):

- sandbox, trivial program: `Sandbox.run` with the plain driver and the program `pass`;
- sandbox, encoding program: `verifiers.encoding.run_program` with a small SAT encoding (the driver
  of the encoding verifiers: job file in, DIMACS and variable map out, error files read back);
- sandbox, a whole encoding verification: the SAT encoding verified on an 8-queens task: the real
  instance and the family's five small instances, each run in its own sandbox call, then solving
  and checking the model;
- unsandboxed (`--allow-unsandboxed` where no isolation is possible): the same trivial program in a
  process group, no namespaces, the seccomp filter still on;
- baseline, `python -c pass`: a bare interpreter start in a subprocess, no isolation;
- baseline, fresh interpreter with z3 and PySAT: what a sandbox without a pre-imported server would
  pay at least (interpreter start, the solvers' imports, the same encoding program), no isolation.

The server's start (once per trusted process) is timed apart. Run as root, the script also times the
trivial program as an ordinary user (a child that drops to an unprivileged uid, see
`tests/ordinary_user.py`; the sandbox then builds a user namespace), after the rounds above, with
the same number of calls.

    python benchmarks/sandbox_overhead.py               # 50 rounds
    python benchmarks/sandbox_overhead.py --rounds 10   # a small form while developing
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpu import cpu_model  # noqa: E402  (benchmarks/, the script's own folder)
from verifiers.base import REGISTRY, VerifyBudget  # noqa: E402
from verifiers.encoding import program_limits, run_program  # noqa: E402
from verifiers.sandbox import Limits, Sandbox, default_sandbox  # noqa: E402

TARGET_MS = 150.0
ENCODING = """
n = instance["n"]
pool = IDPool()
cnf = CNF()
for r in range(1, n + 1):
    cnf.extend(CardEnc.equals(lits=[pool.id(("queen", r, c)) for c in range(1, n + 1)], bound=1, vpool=pool).clauses)
emit(cnf, pool)
"""
QUEENS = ENCODING.replace("emit(cnf, pool)\n", "") + """
for c in range(1, n + 1):
    cnf.extend(CardEnc.atmost(lits=[pool.id(("queen", r, c)) for r in range(1, n + 1)], bound=1, vpool=pool).clauses)
for r1 in range(1, n + 1):
    for c1 in range(1, n + 1):
        for r2 in range(r1 + 1, n + 1):
            for c2 in range(1, n + 1):
                if abs(r1 - r2) == abs(c1 - c2):
                    cnf.append([-pool.id(("queen", r1, c1)), -pool.id(("queen", r2, c2))])
emit(cnf, pool)
"""
FRESH_INTERPRETER = ("import json, z3, pysat.formula, pysat.card\n"
                     "from pysat.formula import CNF, IDPool\nfrom pysat.card import CardEnc\n"
                     "instance = {'n': 8}\nemit = lambda cnf, pool: (cnf.to_dimacs(), json.dumps(list(map(list, pool.obj2id.items()))))\n"
                     + ENCODING)


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; Python {platform.python_version()}"


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _trivial_calls(count: int) -> list[float]:
    box = Sandbox()
    box.run("verifiers.sandbox:run_program", {"program.py": "pass\n"}, Limits())  # the server's start
    try:
        return [timed(lambda: box.run("verifiers.sandbox:run_program", {"program.py": "pass\n"}, Limits()))
                for _ in range(count)]
    finally:
        box.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    arguments = parser.parse_args()

    sandbox = default_sandbox()
    fallback = Sandbox(allow_unsandboxed=True, isolate=False)
    trivial = {"program.py": "pass\n"}
    start_ms = timed(lambda: sandbox.run("verifiers.sandbox:run_program", trivial, Limits()))
    fallback.run("verifiers.sandbox:run_program", trivial, Limits())
    limits = program_limits(10.0)
    first_encoding = run_program(ENCODING, "sat", {"n": 8}, limits)
    assert not isinstance(first_encoding.output, str), first_encoding.output
    isolation = ", ".join(first_encoding.sandbox.isolation)
    verifier = REGISTRY.for_kind("sat_encoding")
    task = SimpleNamespace(family="queens", instance={"n": 8})
    verdict = verifier.verify(task, QUEENS, VerifyBudget(timeout_s=60))
    assert verdict.status == "accepted", verdict.feedback

    variants = {
        "sandbox, trivial program": lambda: sandbox.run("verifiers.sandbox:run_program", trivial, Limits()),
        "sandbox, encoding program (8-queens rows)": lambda: run_program(ENCODING, "sat", {"n": 8}, limits),
        "sandbox, whole verification of an 8-queens encoding (6 sandbox calls, solving, checking)":
            lambda: verifier.verify(task, QUEENS, VerifyBudget(timeout_s=60)),
        "unsandboxed (process group, seccomp), trivial program":
            lambda: fallback.run("verifiers.sandbox:run_program", trivial, Limits()),
        "baseline: subprocess `python -c pass`":
            lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
        "baseline: subprocess, fresh interpreter importing z3 and PySAT, same encoding program":
            lambda: subprocess.run([sys.executable, "-c", FRESH_INTERPRETER], check=True, stdout=subprocess.DEVNULL),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    started = time.perf_counter()
    for _ in range(arguments.rounds):
        for name, action in variants.items():
            samples[name].append(timed(action))
    elapsed = time.perf_counter() - started
    fallback.close()
    if os.geteuid() == 0:
        from tests.ordinary_user import as_ordinary_user

        samples["sandbox as an ordinary user (user namespace), trivial program; timed after the rounds"] = \
            as_ordinary_user(_trivial_calls, arguments.rounds)

    print(f"Machine: {machine()}")
    print(f"Isolation on this machine: {isolation}")
    print(f"{arguments.rounds} rounds in {elapsed:.1f} s; the server's start (once per process): {start_ms:.0f} ms\n")
    print("| variant | median ms | p90 ms |")
    print("|---|---|---|")
    for name, values in samples.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        print(f"| {name} | {statistics.median(values):.1f} | {p90:.1f} |")
    encoding = statistics.median(samples["sandbox, encoding program (8-queens rows)"])
    print(f"\nTarget: median at most {TARGET_MS:.0f} ms per call: {'met' if encoding <= TARGET_MS else 'NOT met'}"
          f" ({encoding:.1f} ms for an encoding program).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
