"""The project's own DRAT proof checker (trusted code: keep it small and auditable).

Why hand-written: no packaged DRAT checker (drat-trim, dpr-trim, cake_lpr, ...) is reachable on the
machines this project runs on (only PyPI, Debian and npm are, and none ships one), so veriloop checks
the proofs of PySAT's solvers itself. The algorithm follows drat-trim's default backward mode
(Wetzler, Heule, Hunt: "DRAT-trim: Efficient Checking and Trimming Using Expressive Clausal Proofs",
SAT 2014); the code is our own.

Input: the formula as a list of clauses (DIMACS integers) and a proof in text DRAT (what PySAT's
`get_proof()` returns: lines `l1 l2 ... 0`, deletions `d l1 ... 0`, comment lines `c ...`) or in
binary DRAT (`a`/`d` bytes followed by variable-length literals, detected the way drat-trim does).

How a proof is checked:

1. Preparation. Duplicate literals are dropped from every clause; tautologies (`x` and `-x`) are
   kept out of the clause database (they can never propagate or conflict, so this is sound). Each
   deletion is matched, in proof order, to a live clause with the same set of literals; deletions
   of unit clauses, and deletions that match nothing, are ignored (as in drat-trim).
2. Forward pass. The formula's clauses are added and unit propagation runs to a fixpoint; then the
   proof's steps are replayed without checking: a lemma is added (and propagated when it is unit
   under the current top-level assignment), a deletion removes its clause unless that clause is
   the reason of a top-level assignment (drat-trim ignores such "pseudo-unit" deletions too). The
   pass stops at the first top-level conflict. A lemma falsified by the top-level assignment
   before any conflict (the empty clause included) cannot be RUP or RAT there: the check fails.
   No conflict by the end of the proof: the proof refutes nothing and the check fails.
3. Backward pass ("core-first"). The clauses behind the final conflict are marked. Walking the
   proof backwards from the conflict, each lemma is removed (its top-level consequences undone)
   and, only if it is marked, checked:
   - RUP: assign the negation of its literals and propagate (marked clauses first); a conflict
     proves it, and every clause in the conflict's implication graph is marked;
   - otherwise RAT on its first literal `p` (as written in the proof): for every active clause `D`
     containing `-p`, the resolvent of the lemma and `D` on `p` must be RUP; every such `D` and the
     clauses used are marked. Unlike drat-trim, which in backward mode looks only at marked
     candidates, every active candidate is checked: that is the textbook definition.
   Deleted clauses are re-added when the walk passes their deletion.

Why accepting is sound: every assignment made is either an assumption (a negated literal of the
clause being checked) or forced by an active clause whose other literals are already false, and a
conflict is an active clause with every literal false; so a RUP success means the lemma follows
from the clauses active at its position. A lemma that is never marked was not used by any check
after it (not as an antecedent, and not as a RAT candidate, because candidates are marked), so
dropping it leaves a valid proof; by induction the marked lemmas form a valid DRAT refutation of
the formula minus the deletions we applied (ignoring a deletion keeps a clause the proof had
given up, which only strengthens the formula we check against).

Certification (`DratResult.certified`) also requires an explicit empty clause (`0`) in the proof:
a proof that merely reaches a conflict by propagation is valid but not certified.

The time limit is hard: the checker reads the clock every few thousand propagation steps and
between proof steps; running out gives `timed_out=True` and never `valid=True`.

The kernels are plain Python over numpy arrays, compiled with numba when it is installed (it is a
dependency of veriloop); with `NUMBA_DISABLE_JIT=1` the very same code runs interpreted, which is
how the tests cross-check the compiled checker. Compiled kernels are cached on disk; where numba
finds no place it may write (an ordinary user with an unwritable home), the cache goes to a private
directory under the temp dir (`veriloop-numba-UID`), or the kernels are compiled in each process.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

try:
    from numba import config as numba_config
    from numba import njit, objmode
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the checker usable without it
    njit = None

if njit is None:  # pragma: no cover
    def _jit(function):
        return function

    _inline = _jit

    def _now() -> float:
        return time.perf_counter()
else:
    def _private_cache() -> bool:
        """Point numba's cache at a directory of this user's own under the temp dir: created 0700 and
        checked to be a real directory owned by the user and closed to others (a cache that others
        can write would let them plant compiled code)."""
        directory = os.path.join(tempfile.gettempdir(), f"veriloop-numba-{os.getuid()}")
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return False
        status = os.lstat(directory)
        if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
            return False
        numba_config.CACHE_DIR = directory
        return True

    def _compiled(**options):
        """numba's njit with an on-disk cache: numba's own places (next to this file, the user's
        cache directory), else a private directory under the temp dir, else none (compiled anew
        in each process). An ordinary user whose home cannot be written still gets a checker."""
        def decorate(function):
            try:
                return njit(cache=True, **options)(function)
            except RuntimeError as error:
                if "no locator available" not in str(error):
                    raise
            return njit(cache=_private_cache(), **options)(function)
        return decorate

    _jit = _compiled()
    _inline = _compiled(inline="always")

    @_jit
    def _now() -> float:
        with objmode(seconds="float64"):
            seconds = time.perf_counter()
        return seconds


@dataclass(frozen=True)
class DratResult:
    valid: bool  # every lemma that had to be checked was RUP or RAT
    derived_empty: bool  # the proof contains the empty clause and it checked
    message: str  # why not valid, naming the proof line / lemma
    lemmas: int
    deletions: int
    checked_lemmas: int
    elapsed_s: float
    timed_out: bool = False
    rat_lemmas: int = 0  # checked lemmas that needed the RAT check
    ignored_deletions: int = 0  # unit/pseudo-unit deletions and deletions of clauses that do not exist

    @property
    def certified(self) -> bool:
        return self.valid and self.derived_empty and not self.timed_out


# ----------------------------------------------------------------------------------------------
# Parsing. Both parsers return (literals, step starts, deletion flags, step lines, error, error line);
# error 0 means success. Literals are DIMACS integers; step s owns literals[starts[s]:starts[s+1]].

PARSE_OK, PARSE_BAD_CHARACTER, PARSE_UNTERMINATED, PARSE_TOO_LARGE, PARSE_BAD_BINARY = 0, 1, 2, 3, 4
# Variables up to 2**30 - 1 keep the literal codes 2*v+1 within int32.
MAX_VARIABLE = (1 << 30) - 1


@_jit
def _parse_text(data):
    size = data.shape[0]
    bound = (data == 48).sum() + 1  # every step ends with a `0`
    literals = np.empty(size // 2 + 1, np.int32)  # every literal takes a digit and a separator
    starts = np.empty(bound + 1, np.int64)
    deletion = np.empty(bound, np.bool_)
    lines = np.empty(bound, np.int64)
    count, steps, line, step_line = 0, 0, 1, 1
    inside, deleting = False, False
    starts[0] = 0
    i = 0
    while i < size:
        char = data[i]
        if char == 10:  # newline
            line += 1
            i += 1
        elif char == 32 or char == 9 or char == 13:  # space, tab, carriage return
            i += 1
        elif char == 99 and not inside:  # 'c': a comment line
            while i < size and data[i] != 10:
                i += 1
        elif char == 100 and not inside:  # 'd': a deletion
            if i + 1 < size and data[i + 1] != 32 and data[i + 1] != 9:
                return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_BAD_CHARACTER, line
            inside, deleting, step_line = True, True, line
            i += 1
        elif char == 45 or (48 <= char <= 57):  # '-' or a digit
            negative = char == 45
            if negative:
                i += 1
            if i >= size or not (48 <= data[i] <= 57):
                return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_BAD_CHARACTER, line
            value = 0
            while i < size and 48 <= data[i] <= 57:
                value = value * 10 + (np.int64(data[i]) - 48)
                if value > MAX_VARIABLE:
                    return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_TOO_LARGE, line
                i += 1
            if not inside:
                inside, deleting, step_line = True, False, line
            if value == 0:
                deletion[steps] = deleting
                lines[steps] = step_line
                steps += 1
                starts[steps] = count
                inside = False
            else:
                literals[count] = -value if negative else value
                count += 1
        else:
            return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_BAD_CHARACTER, line
    if inside:
        return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_UNTERMINATED, line
    return literals[:count], starts[:steps + 1], deletion[:steps], lines[:steps], PARSE_OK, 0


@_jit
def _parse_binary(data):
    size = data.shape[0]
    bound = (data == 0).sum() + 1  # every step ends with a zero byte
    literals = np.empty(size, np.int32)
    starts = np.empty(bound + 1, np.int64)
    deletion = np.empty(bound, np.bool_)
    lines = np.empty(bound, np.int64)
    count, steps = 0, 0
    starts[0] = 0
    i = 0
    while i < size:
        if data[i] == 97:  # 'a'
            deleting = False
        elif data[i] == 100:  # 'd'
            deleting = True
        else:
            return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_BAD_BINARY, steps + 1
        i += 1
        while True:  # literals as variable-length unsigned integers (2*v, or 2*v+1 for -v), 0 ends
            value, shift = 0, 0
            while True:
                if i >= size:
                    return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_UNTERMINATED, steps + 1
                byte = np.int64(data[i])
                i += 1
                value |= (byte & 127) << shift
                shift += 7
                if value >> 1 > MAX_VARIABLE or shift > 35:
                    return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_TOO_LARGE, steps + 1
                if byte < 128:
                    break
            if value == 0:
                break
            if value < 2:
                return literals[:0], starts[:1], deletion[:0], lines[:0], PARSE_BAD_BINARY, steps + 1
            literals[count] = -(value >> 1) if value & 1 else value >> 1
            count += 1
        deletion[steps] = deleting
        lines[steps] = steps + 1
        steps += 1
        starts[steps] = count
    return literals[:count], starts[:steps + 1], deletion[:steps], lines[:steps], PARSE_OK, 0


_TEXT_BYTES = frozenset(b"\n\r -0123456789cd")


def _looks_binary(data: bytes) -> bool:
    """drat-trim's test: a byte outside the text alphabet among the first dozen (letters allowed in
    a leading comment) means binary DRAT."""
    if not data:
        return False
    comment = data[:2] == b"c "
    for index, byte in enumerate(data[:12]):
        if byte not in _TEXT_BYTES and not (comment and index >= 2 and 65 <= byte <= 122):
            return True
    return False


# ----------------------------------------------------------------------------------------------
# The checker's state. Literal codes: 2*v for v, 2*v+1 for -v (so `code ^ 1` negates).
# Clause slots: 0..F-1 the formula's clauses, F+s the clause of proof step s.
# Watches: clause c is watched through nodes 2c and 2c+1 (its literals at positions 0 and 1),
# kept in doubly linked lists per literal, one list for marked (core) clauses and one for the rest.

State = namedtuple("State", [
    "lits",  # int32: clause literals (codes), clause c at start[c] : start[c] + length[c]
    "start", "length",  # int64, int32 per slot
    "pivot",  # int32 per slot: first literal of a lemma as written
    "tautology", "active", "marked", "attached",  # bool per slot
    "value",  # int8 per literal code: 1 true, -1 false, 0 unassigned
    "trail",  # int32 literal codes in assignment order
    "position", "reason",  # int32 per variable (reason: clause slot, -1 for an assumption)
    "seen",  # int8 per variable, scratch for conflict analysis
    "head_core", "head_rest",  # int32 per literal code: first watch node, -1 for none
    "next_node", "prev_node",  # int32 per watch node
    "scalars",  # int64: TRAIL, QUEUE_CORE, QUEUE_REST, WORK, DEADLINE_HIT
    "deadline",  # float64[1]
])
TRAIL, QUEUE_CORE, QUEUE_REST, WORK, DEADLINE_HIT = 0, 1, 2, 3, 4
CLOCK_EVERY = 0x1FFF  # read the clock every 8192 watch visits
TRUE, FALSE = np.int8(1), np.int8(-1)
NO_CONFLICT, OUT_OF_TIME = -1, -2


@_inline
def _tick(scalars, deadline):
    """Count one unit of work, reading the clock every 8192 units. True once out of time."""
    scalars[WORK] += 1
    if scalars[WORK] & CLOCK_EVERY == 0 and _now() > deadline[0]:
        scalars[DEADLINE_HIT] = 1
    return scalars[DEADLINE_HIT] == 1


@_inline
def _assign_to(value, trail, position, reason, scalars, literal, why):
    n = scalars[TRAIL]
    value[literal] = TRUE
    value[literal ^ 1] = FALSE
    trail[n] = literal
    position[literal >> 1] = n
    reason[literal >> 1] = why
    scalars[TRAIL] = n + 1


@_inline
def _link(head, next_node, prev_node, node, literal):
    prev_node[node] = -1
    next_node[node] = head[literal]
    if head[literal] >= 0:
        prev_node[head[literal]] = node
    head[literal] = node


@_inline
def _unlink(head, next_node, prev_node, node, literal):
    before, after = prev_node[node], next_node[node]
    if before >= 0:
        next_node[before] = after
    else:
        head[literal] = after
    if after >= 0:
        prev_node[after] = before


# The hot functions below read the state's arrays into locals once: handing the whole State to a
# compiled call costs a reference count update per array, which would dominate the run time.

@_jit
def _assign(S, literal, why):
    _assign_to(S.value, S.trail, S.position, S.reason, S.scalars, literal, why)


@_jit
def _undo(S, keep):
    """Unassign everything from trail position `keep` on; what stays was fully propagated."""
    value, trail, reason, scalars = S.value, S.trail, S.reason, S.scalars
    for i in range(keep, scalars[TRAIL]):
        literal = trail[i]
        value[literal] = 0
        value[literal ^ 1] = 0
        reason[literal >> 1] = -1
    scalars[TRAIL] = keep
    scalars[QUEUE_CORE] = keep
    scalars[QUEUE_REST] = keep


@_jit
def _attach(S, c):
    """Watch clause c (length >= 2) on its two best literals: non-false ones first, then the false
    ones assigned last, so that undoing the trail never leaves a unit clause unwatched."""
    lits, value, position = S.lits, S.value, S.position
    s, n = S.start[c], S.length[c]
    above_trail = S.scalars[TRAIL] + 1
    for k in range(2):
        best, best_key = s + k, -2
        for i in range(s + k, s + n):
            key = above_trail if value[lits[i]] != FALSE else position[lits[i] >> 1]
            if key > best_key:
                best, best_key = i, key
        lits[s + k], lits[best] = lits[best], lits[s + k]
    head = S.head_core if S.marked[c] else S.head_rest
    _link(head, S.next_node, S.prev_node, 2 * c, lits[s])
    _link(head, S.next_node, S.prev_node, 2 * c + 1, lits[s + 1])
    S.attached[c] = True


@_jit
def _detach(S, c):
    s = S.start[c]
    head = S.head_core if S.marked[c] else S.head_rest
    _unlink(head, S.next_node, S.prev_node, 2 * c, S.lits[s])
    _unlink(head, S.next_node, S.prev_node, 2 * c + 1, S.lits[s + 1])
    S.attached[c] = False


@_jit
def _mark(S, c):
    """Mark clause c as needed (core); its watches move to the core lists."""
    if S.marked[c]:
        return
    if S.attached[c]:
        _detach(S, c)
        S.marked[c] = True
        _attach(S, c)
    else:
        S.marked[c] = True


@_jit
def _propagate(S):
    """Unit propagation, core first: the marked clauses watching each pending literal are visited
    before the others. Each visited clause moves its watch to a non-false literal, or assigns its
    other watch (unit), or is returned (conflict)."""
    lits, start, length = S.lits, S.start, S.length
    value, trail, position, reason, scalars = S.value, S.trail, S.position, S.reason, S.scalars
    head_core, head_rest, next_node, prev_node = S.head_core, S.head_rest, S.next_node, S.prev_node
    while True:
        if scalars[QUEUE_CORE] < scalars[TRAIL]:
            false_literal = trail[scalars[QUEUE_CORE]] ^ 1
            scalars[QUEUE_CORE] += 1
            head = head_core
        elif scalars[QUEUE_REST] < scalars[TRAIL]:
            false_literal = trail[scalars[QUEUE_REST]] ^ 1
            scalars[QUEUE_REST] += 1
            head = head_rest
        else:
            return NO_CONFLICT
        node = head[false_literal]
        while node >= 0:
            following = next_node[node]
            if _tick(scalars, S.deadline):
                return OUT_OF_TIME
            c, k = node >> 1, node & 1
            s = start[c]
            other = lits[s + 1 - k]
            if value[other] != TRUE:
                moved = False
                for i in range(s + 2, s + length[c]):
                    candidate = lits[i]
                    if value[candidate] != FALSE:
                        lits[s + k], lits[i] = candidate, false_literal
                        _unlink(head, next_node, prev_node, node, false_literal)
                        _link(head, next_node, prev_node, node, candidate)
                        moved = True
                        break
                if not moved:
                    if value[other] == FALSE:
                        return c
                    _assign_to(value, trail, position, reason, scalars, other, c)
            node = following


@_jit
def _analyze(S, conflict, seed_variable):
    """Mark the clauses of the implication graph behind a conflict clause (or behind a true
    literal `seed_variable`): the conflict clause and the reasons of every literal it depends on.
    A clause becoming marked moves its watches to the core lists."""
    lits, start, length, trail, reason, seen = S.lits, S.start, S.length, S.trail, S.reason, S.seen
    marked, attached = S.marked, S.attached
    head_core, head_rest, next_node, prev_node = S.head_core, S.head_rest, S.next_node, S.prev_node
    pending = 0
    if seed_variable >= 0:
        seen[seed_variable] = 1
        pending = 1
    i = S.scalars[TRAIL] - 1
    c, variable = conflict, -1
    while True:
        if c >= 0:  # mark clause c; the variables of its other literals are needed too
            if not marked[c]:
                marked[c] = True
                if attached[c]:
                    for node in (2 * c, 2 * c + 1):
                        literal = lits[start[c] + (node & 1)]
                        _unlink(head_rest, next_node, prev_node, node, literal)
                        _link(head_core, next_node, prev_node, node, literal)
            for j in range(start[c], start[c] + length[c]):
                other = lits[j] >> 1
                if other != variable and seen[other] == 0:
                    seen[other] = 1
                    pending += 1
        if pending == 0 or i < 0:
            return
        variable = trail[i] >> 1
        i -= 1
        c = -1
        if seen[variable]:
            seen[variable] = 0
            pending -= 1
            c = reason[variable]


CHECK_OK, CHECK_FAILED, CHECK_OUT_OF_TIME, CHECK_OK_RAT = 0, 1, 2, 3


@_jit
def _check_lemma(S, c, slots):
    """RUP, else RAT on the lemma's pivot, against the active clauses; marks what was used."""
    lits, start, length, value, active = S.lits, S.start, S.length, S.value, S.active
    top = S.scalars[TRAIL]
    s, n = start[c], length[c]
    pivot = S.pivot[c]
    pivot_false = n > 0 and value[pivot] == FALSE
    for i in range(s, s + n):
        literal = lits[i]
        if value[literal] == TRUE:  # implied by the top-level assignment
            _analyze(S, -1, literal >> 1)
            _undo(S, top)
            return CHECK_OK
        if value[literal] == 0:
            _assign(S, literal ^ 1, -1)
    conflict = _propagate(S)
    if conflict == OUT_OF_TIME:
        _undo(S, top)
        return CHECK_OUT_OF_TIME
    if conflict >= 0:
        _analyze(S, conflict, -1)
        _undo(S, top)
        return CHECK_OK
    if n == 0 or pivot_false:
        _undo(S, top)
        return CHECK_FAILED
    # RAT on the pivot: every resolvent with an active clause containing -pivot must be RUP.
    base = S.scalars[TRAIL]
    for d in range(slots):
        if not active[d]:
            continue
        contains, satisfied = False, -1
        for i in range(start[d], start[d] + length[d]):
            if lits[i] == pivot ^ 1:
                contains = True
            elif value[lits[i]] == TRUE and satisfied < 0:
                satisfied = lits[i]
        if not contains:
            continue
        if satisfied >= 0:  # the resolvent's negation contradicts what the lemma's negation implies
            _analyze(S, -1, satisfied >> 1)
        else:
            for i in range(start[d], start[d] + length[d]):
                if lits[i] != pivot ^ 1 and value[lits[i]] == 0:
                    _assign(S, lits[i] ^ 1, -1)
            conflict = _propagate(S)
            if conflict < 0:
                _undo(S, top)
                return CHECK_OUT_OF_TIME if conflict == OUT_OF_TIME else CHECK_FAILED
            _analyze(S, conflict, -1)
            _undo(S, base)
        _mark(S, d)
    _undo(S, top)
    return CHECK_OK_RAT


@_jit
def _reason_literal(S, c):
    """The literal of clause c that c is the top-level reason of, or -1."""
    for i in range(S.start[c], S.start[c] + S.length[c]):
        literal = S.lits[i]
        if S.value[literal] == TRUE and S.reason[literal >> 1] == c:
            return literal
    return -1


# ----------------------------------------------------------------------------------------------
# Preparation: duplicate literals, tautologies, deletion matching.

@_jit
def _mix(x):
    x = (x ^ (x >> 31)) * 0x5851F42D4C957F2D
    x = (x ^ (x >> 29)) * 0x14057B7EF767814F
    return x ^ (x >> 32)


@_jit
def _prepare(S, formula_count, deletion, stamp):
    """Normalise every slot and match each deletion step to the clause it deletes (-1: ignored)."""
    slots = S.start.shape[0]
    key = np.zeros(slots, np.int64)
    for c in range(slots):
        s, write = S.start[c], S.start[c]
        for i in range(s, s + S.length[c]):
            literal = S.lits[i]
            if stamp[literal] == c + 1:
                continue  # duplicate
            if stamp[literal ^ 1] == c + 1:
                S.tautology[c] = True
            stamp[literal] = c + 1
            S.lits[write] = literal
            write += 1
            key[c] += _mix(np.int64(literal) + 1)
        S.length[c] = write - s
        if S.length[c] > 0:
            S.pivot[c] = S.lits[s]
    # Live clauses by the hash of their literal set, in chains.
    buckets = 1
    while buckets < 2 * slots:
        buckets *= 2
    bucket = np.full(buckets, -1, np.int64)
    chain = np.full(slots, -1, np.int64)
    matched = np.full(slots - formula_count, -1, np.int64)
    marker = slots + 1
    for c in range(slots):
        step = c - formula_count
        if S.tautology[c]:
            continue
        if step < 0 or not deletion[step]:
            h = key[c] & (buckets - 1)
            chain[c] = bucket[h]
            bucket[h] = c
            continue
        if S.length[c] <= 1:
            continue  # unit deletions are ignored
        marker += 1
        for i in range(S.start[c], S.start[c] + S.length[c]):
            stamp[S.lits[i]] = marker
        h = key[c] & (buckets - 1)
        before, candidate = -1, bucket[h]
        while candidate >= 0:
            if key[candidate] == key[c] and S.length[candidate] == S.length[c]:
                same = True
                for i in range(S.start[candidate], S.start[candidate] + S.length[candidate]):
                    if stamp[S.lits[i]] != marker:
                        same = False
                        break
                if same:
                    if before >= 0:
                        chain[before] = chain[candidate]
                    else:
                        bucket[h] = chain[candidate]
                    matched[step] = candidate
                    break
            before, candidate = candidate, chain[candidate]
    return matched


# ----------------------------------------------------------------------------------------------
# The two passes.

VALID, LEMMA_FAILED, LEMMA_FALSIFIED, NO_REFUTATION, TIMED_OUT = 0, 1, 2, 3, 4


@_jit
def _add_clause(S, c):
    """Add slot c in the forward pass; returns NO_CONFLICT, a conflict clause, or -3 when the
    clause is falsified by the top-level assignment without a conflict (it cannot be redundant)."""
    S.active[c] = True
    n = S.length[c]
    if n == 0:
        return -3
    if n == 1:
        literal = S.lits[S.start[c]]
        if S.value[literal] == FALSE:
            return -3
        if S.value[literal] == 0:
            _assign(S, literal, c)
        return NO_CONFLICT
    _attach(S, c)
    first, second = S.lits[S.start[c]], S.lits[S.start[c] + 1]
    if S.value[first] == FALSE:
        return -3
    if S.value[first] == 0 and S.value[second] == FALSE:
        _assign(S, first, c)
    return NO_CONFLICT


@_jit
def _run(S, formula_count, deletion, matched):
    """Returns (outcome, step, checked lemmas, RAT lemmas, ignored deletions).
    `step` is the failing step, or the step whose propagation reached the conflict (-1: the formula)."""
    slots = S.start.shape[0]
    steps = slots - formula_count
    applied = np.zeros(steps, np.bool_)  # deletions carried out in the forward pass
    ignored = 0
    # The formula: clauses first, then units; complementary units are a conflict at once.
    conflict = NO_CONFLICT
    for c in range(formula_count):
        if not S.tautology[c] and S.length[c] >= 2:
            S.active[c] = True
            _attach(S, c)
    for c in range(formula_count):
        if not S.tautology[c] and S.length[c] <= 1:
            S.active[c] = True
            if S.length[c] == 0:
                conflict = c
                break
            literal = S.lits[S.start[c]]
            if S.value[literal] == FALSE:
                conflict = c
                break
            if S.value[literal] == 0:
                _assign(S, literal, c)
    if conflict == NO_CONFLICT:
        conflict = _propagate(S)
    if conflict == OUT_OF_TIME:
        return TIMED_OUT, -1, 0, 0, ignored
    last = -1
    if conflict == NO_CONFLICT:
        for step in range(steps):
            if _tick(S.scalars, S.deadline):
                return TIMED_OUT, step, 0, 0, ignored
            c = formula_count + step
            if deletion[step]:
                d = matched[step]
                if d < 0 or _reason_literal(S, d) >= 0:
                    ignored += 1
                    continue
                S.active[d] = False
                if S.attached[d]:
                    _detach(S, d)
                applied[step] = True
                continue
            if S.tautology[c]:
                continue
            conflict = _add_clause(S, c)
            if conflict == -3:
                return LEMMA_FALSIFIED, step, 0, 0, ignored
            if conflict == NO_CONFLICT:
                conflict = _propagate(S)
            if conflict == OUT_OF_TIME:
                return TIMED_OUT, step, 0, 0, ignored
            if conflict != NO_CONFLICT:
                last = step
                break
        if conflict == NO_CONFLICT:
            return NO_REFUTATION, steps - 1, 0, 0, ignored
    # The final conflict: mark its implication graph (a falsified unit clause marks its literal's reason).
    if S.length[conflict] == 1:
        _mark(S, conflict)
        _analyze(S, -1, S.lits[S.start[conflict]] >> 1)
    else:
        _analyze(S, conflict, -1)
    checked, rat = 0, 0
    for step in range(last, -1, -1):
        c = formula_count + step
        if deletion[step]:
            if applied[step]:
                d = matched[step]
                S.active[d] = True
                _attach(S, d)
            continue
        if S.tautology[c] or not S.active[c]:
            continue
        S.active[c] = False
        if S.attached[c]:
            _detach(S, c)
        implied = _reason_literal(S, c)
        if implied >= 0:
            _undo(S, S.position[implied >> 1])
        if not S.marked[c]:
            continue
        if _tick(S.scalars, S.deadline):
            return TIMED_OUT, step, checked, rat, ignored
        outcome = _check_lemma(S, c, slots)
        if outcome == CHECK_OUT_OF_TIME:
            return TIMED_OUT, step, checked, rat, ignored
        if outcome == CHECK_FAILED:
            return LEMMA_FAILED, step, checked, rat, ignored
        checked += 1
        if outcome == CHECK_OK_RAT:
            rat += 1
    return VALID, last, checked, rat, ignored


# ----------------------------------------------------------------------------------------------
# The public entry point.

def _parse_proof(proof) -> tuple:
    if proof is None:
        proof = ""
    if isinstance(proof, (bytes, bytearray, memoryview)):
        data = bytes(proof)
        binary = _looks_binary(data)
    elif isinstance(proof, str):
        data, binary = proof.encode("ascii", errors="replace"), False
    else:
        data, binary = "\n".join(proof).encode("ascii", errors="replace"), False
    array = np.frombuffer(data, dtype=np.uint8)
    return (_parse_binary if binary else _parse_text)(array) + (binary,)


_PARSE_ERRORS = {
    PARSE_BAD_CHARACTER: "unexpected character",
    PARSE_UNTERMINATED: "the proof ends inside a clause (no terminating 0)",
    PARSE_TOO_LARGE: f"a literal beyond variable {MAX_VARIABLE}",
    PARSE_BAD_BINARY: "malformed binary DRAT step",
}


def _formula_arrays(clauses: list[list[int]]) -> tuple[np.ndarray, np.ndarray, int]:
    lengths = np.fromiter((len(clause) for clause in clauses), dtype=np.int64, count=len(clauses))
    starts = np.zeros(len(clauses) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    flat = np.fromiter((literal for clause in clauses for literal in clause), dtype=np.int64, count=int(starts[-1]))
    if flat.size and (np.any(flat == 0) or np.abs(flat).max() > MAX_VARIABLE):
        raise ValueError("a formula clause holds 0 or a literal beyond the supported range")
    return flat, starts, int(np.abs(flat).max()) if flat.size else 0


def _clause_text(literals: np.ndarray, limit: int = 12) -> str:
    shown = " ".join(str(int(x)) for x in literals[:limit])
    return (shown + (" ..." if len(literals) > limit else "") + " 0").strip()


_warmed_up = False


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel once per process, so that the
    first real check's clock measures checking, not compiling (about 15 s the very first time on a
    machine, under a second from the cache)."""
    global _warmed_up
    if not _warmed_up:
        _warmed_up = True
        _now()  # the first clock read loads numba's object-mode machinery (a third of a second)
        check_drat([[1, 2], [-1, 2], [1, -2], [-1, -2]], ["3 1 0", "d 1 2 0", "-3 0", "0"], 3600.0)
        check_drat([[1, 2], [-1, 2], [1, -2], [-1, -2]], b"a\x02\x00a\x00", 3600.0)


def check_drat(clauses: list[list[int]], proof, time_limit_s: float) -> DratResult:
    """Check a DRAT refutation of `clauses`. `proof`: text lines (PySAT's `get_proof()`), one
    string, or bytes (text or binary DRAT). Never raises on a bad proof: the result says why.
    The clock starts after the one-time `warm_up()`."""
    warm_up()
    started = time.perf_counter()
    deadline = started + max(0.0, time_limit_s)
    flat, formula_starts, formula_vars = _formula_arrays(clauses)
    literals, starts, deletion, lines, error, error_line, binary = _parse_proof(proof)
    where = "step" if binary else "line"
    lemmas = int(np.count_nonzero(~deletion))
    deletions = int(deletion.size - lemmas)

    def result(valid: bool, message: str, **fields) -> DratResult:
        return DratResult(valid=valid, message=message, lemmas=lemmas, deletions=deletions,
                          elapsed_s=time.perf_counter() - started, **{"derived_empty": False, "checked_lemmas": 0, **fields})

    if error != PARSE_OK:
        return result(False, f"proof {where} {error_line}: {_PARSE_ERRORS[error]}")
    variables = max(formula_vars, int(np.abs(literals).max()) if literals.size else 0)
    formula_count, steps = len(clauses), deletion.size
    all_literals = np.concatenate((flat, literals.astype(np.int64)))
    codes = (2 * np.abs(all_literals) + (all_literals < 0)).astype(np.int32)
    slot_start = np.concatenate((formula_starts[:-1], starts[:-1] + formula_starts[-1])).astype(np.int64)
    slot_length = np.concatenate((np.diff(formula_starts), np.diff(starts))).astype(np.int32)
    slots, codes_count = formula_count + steps, 2 * variables + 2
    state = State(
        lits=codes, start=slot_start, length=slot_length, pivot=np.zeros(slots, np.int32),
        tautology=np.zeros(slots, np.bool_), active=np.zeros(slots, np.bool_),
        marked=np.zeros(slots, np.bool_), attached=np.zeros(slots, np.bool_),
        value=np.zeros(codes_count, np.int8), trail=np.zeros(variables + 1, np.int32),
        position=np.zeros(variables + 1, np.int32), reason=np.full(variables + 1, -1, np.int32),
        seen=np.zeros(variables + 1, np.int8),
        head_core=np.full(codes_count, -1, np.int32), head_rest=np.full(codes_count, -1, np.int32),
        next_node=np.full(2 * slots, -1, np.int32), prev_node=np.full(2 * slots, -1, np.int32),
        scalars=np.zeros(5, np.int64), deadline=np.array([deadline], np.float64),
    )
    with np.errstate(over="ignore"):  # the clause hash wraps around on purpose (interpreted mode warns)
        matched = _prepare(state, formula_count, deletion, np.zeros(codes_count, np.int64))
        outcome, step, checked, rat, ignored = _run(state, formula_count, deletion, matched)
    counts = {"checked_lemmas": int(checked), "rat_lemmas": int(rat), "ignored_deletions": int(ignored)}

    def lemma(step_index: int) -> str:
        return _clause_text(literals[starts[step_index]:starts[step_index + 1]])

    if outcome == TIMED_OUT:
        return result(False, f"out of time ({time_limit_s:g} s) after {checked} checked lemmas", timed_out=True, **counts)
    if outcome == NO_REFUTATION:
        return result(False, "the proof reaches no conflict: it does not refute the formula", **counts)
    if outcome == LEMMA_FALSIFIED:
        kind = "the empty clause" if starts[step] == starts[step + 1] else f"lemma `{lemma(step)}`"
        return result(False, f"proof {where} {lines[step]}: {kind} is falsified by the units derived so far "
                             "without a conflict, so it is neither RUP nor RAT", **counts)
    if outcome == LEMMA_FAILED:
        pivot = int(literals[starts[step]]) if starts[step] < starts[step + 1] else 0
        return result(False, f"proof {where} {lines[step]}: lemma `{lemma(step)}` is neither RUP nor RAT "
                             f"(pivot {pivot})", **counts)
    empty_steps = np.flatnonzero((np.diff(starts) == 0) & ~deletion)
    derived_empty = bool(empty_steps.size)
    message = ("ok" if derived_empty else
               "every needed lemma checks, but the proof has no explicit empty clause")
    return result(True, message, derived_empty=derived_empty, **counts)
