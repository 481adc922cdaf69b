"""Lean 4 on the trusted side.

- `types`: results (`TacticState | ProofFinished | LeanError`) and infrastructure exceptions;
- `project`: where the user's Lean project, `lake` and the REPL are (nothing is downloaded);
- `repl`: the Lean REPL driver (LeanInteract), one long-lived process per worker with restarts;
- `dojo`: the LeanDojo driver (optional extra `dojo`);
- `trust`: source-level checks, the assembled file, and the decision on Lean's output;
- `compile`: `lake env lean --json` on the assembled file, from scratch, under a time limit;
- `verifier`: the `lean` verifier registered for tasks of kind `lean`.
"""
