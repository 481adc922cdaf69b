"""Graph neural network guidance for SAT: the signed variable-clause graph of a CNF formula, a
message-passing network that predicts each variable's phase, and the phase hint it proposes to the
solver (a proposal with a structured payload; the verdict is checked exactly as without it)."""
