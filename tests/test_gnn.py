"""The phase predictor: graphs, labels against brute force, training and prediction, the CLI."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from agent.gnn.generate import FAMILIES, HELD_OUT, generate, random_ksat
from agent.gnn.graph import NEGATIVE, NEGATIVE_OF, POSITIVE, POSITIVE_OF, VARIABLE, CLAUSE, cnf_graph, jeroslow_wang
from agent.gnn.labels import phase_labels
from agent.gnn.model import ModelConfig
from agent.gnn.predict import load_predictor, WeightsError
from agent.gnn.train import build_dataset, formula_digest, train
from verifiers.phases import PhaseHint


def edges(graph, relation) -> set[tuple[int, int]]:
    return set(map(tuple, graph[relation].edge_index.t().tolist()))


def test_graph_nodes_edges_and_signs():
    clauses = [[1, -2], [2, 3, -1], [-3]]
    graph = cnf_graph(4, clauses)  # variable 4 occurs nowhere: a node without edges
    assert graph[VARIABLE].num_nodes == 4 and graph[CLAUSE].num_nodes == 3
    assert edges(graph, POSITIVE) == {(0, 0), (1, 1), (2, 1)}
    assert edges(graph, NEGATIVE) == {(1, 0), (0, 1), (2, 2)}
    assert edges(graph, POSITIVE_OF) == {(c, v) for v, c in edges(graph, POSITIVE)}
    assert edges(graph, NEGATIVE_OF) == {(c, v) for v, c in edges(graph, NEGATIVE)}
    assert graph[VARIABLE].x.shape == (4, 5) and graph[CLAUSE].x.shape == (3, 3)
    assert graph[VARIABLE].x[3].abs().sum() == 0
    positive, negative = jeroslow_wang(4, clauses)
    assert positive.tolist() == [0.25, 0.125, 0.125, 0.0] and negative.tolist() == [0.125, 0.25, 0.5, 0.0]
    assert graph[VARIABLE].x[:, 2:4].tolist() == [list(pair) for pair in zip(positive, negative)]


@pytest.mark.parametrize("family", ["random3sat", "scheduling", "qwh"])
def test_fused_inference_computes_the_trained_network(family):
    from agent.gnn.graph import Incidence
    from agent.gnn.model import FusedPhaseGNN, PhaseGNN

    torch.manual_seed(0)
    model = PhaseGNN(ModelConfig(hidden=16, rounds=3)).eval()
    size = {"random3sat": 40, "scheduling": 12, "qwh": 5}[family]
    instance = generate(family, random.Random(f"fused-{family}"), size)
    clauses = instance.clauses + [[1, 1, -2], [2, -2], [-3]]  # a repeated literal, a tautology, a unit
    variables = instance.variables + 2  # two variables that occur nowhere
    with torch.no_grad():
        expected = model(cnf_graph(variables, clauses))
    assert torch.allclose(FusedPhaseGNN(model)(Incidence.of(variables, clauses)), expected, atol=1e-5)


def brute_force(variables: int, clauses: list[list[int]]) -> list[set[int]]:
    models = []
    for values in itertools.product((False, True), repeat=variables):
        true = {v if value else -v for v, value in enumerate(values, start=1)}
        if all(any(literal in true for literal in clause) for clause in clauses):
            models.append(true)
    return models


@pytest.mark.parametrize("seed", range(12))
def test_labels_agree_with_brute_force(seed):
    rng = random.Random(seed)
    variables = rng.randint(4, 9)
    instance = random_ksat(rng, variables, ratio=rng.choice((2.0, 3.5, 4.5, 6.0)))
    models = brute_force(variables, instance.clauses)
    labels = phase_labels(variables, instance.clauses)
    if not models:
        assert labels is None
        return
    assert labels is not None
    assert labels.backbone == frozenset(set.intersection(*models))
    for v in range(1, variables + 1):
        assert 0.0 <= labels.true_fraction[v - 1] <= 1.0
        if v in labels.backbone or -v in labels.backbone:
            assert labels.target(v) == (1.0 if v in labels.backbone else 0.0)


def test_generators_give_valid_formulas():
    for family in FAMILIES:
        instance = generate(family, random.Random(f"test-{family}"))
        assert instance.family == family and instance.clauses
        assert max(abs(literal) for clause in instance.clauses for literal in clause) <= instance.variables
        if family != "random3sat":  # the others have a planted solution
            assert phase_labels(instance.variables, instance.clauses) is not None
    assert formula_digest([[1, 2], [-3]]) == formula_digest([[-3], [2, 1]])


def test_held_out_quasigroup_family_is_a_latin_square_completion():
    from pysat.solvers import Solver

    assert "qwh" in HELD_OUT and "qwh" not in FAMILIES  # training never draws from it
    instance = generate("qwh", random.Random("test-qwh"), 5)
    assert instance.family == "qwh" and sum(len(clause) == 1 for clause in instance.clauses) == 25 - round(0.42 * 25)
    with Solver(name="glucose4", bootstrap_with=instance.clauses) as solver:
        assert solver.solve()  # the planted square completes it
        true = {literal for literal in solver.get_model() if 0 < literal <= 125}
    cells = {((v - 1) // 25 + 1, (v - 1) // 5 % 5 + 1): (v - 1) % 5 + 1 for v in true}  # ("cell", r, c, v) made first
    assert len(cells) == 25 and all(len({cells[r, c] for c in range(1, 6)}) == 5 for r in range(1, 6))
    assert all(len({cells[r, c] for r in range(1, 6)}) == 5 for c in range(1, 6))


def test_held_out_sudoku_family_solutions_pass_the_sudoku_checker():
    from pysat.solvers import Solver

    from verifiers.families.sudoku import Sudoku, SudokuInstance

    assert "sudoku" in HELD_OUT and "sudoku" not in FAMILIES
    instance = generate("sudoku", random.Random("test-sudoku"), 3)  # 9 x 9, 60 % of the cells empty
    givens = {abs(clause[0]) for clause in instance.clauses if len(clause) == 1}
    assert len(givens) == 81 - round(0.6 * 81)
    with Solver(name="glucose4", bootstrap_with=instance.clauses) as solver:
        assert solver.solve()  # the planted grid completes it
        true = {literal for literal in solver.get_model() if 0 < literal <= 729}
    assert givens <= true
    grid = [[0] * 9 for _ in range(9)]
    for v in true:  # ("cell", r, c, d) numbered first, in order
        grid[(v - 1) // 81][(v - 1) // 9 % 9] = (v - 1) % 9 + 1
    solution = tuple(map(tuple, grid))
    assert Sudoku().check(SudokuInstance(box=3, grid=solution), solution) == []


def test_held_out_independent_set_family_has_an_independent_set_of_k():
    from pysat.solvers import Solver

    assert "indset" in HELD_OUT and "indset" not in FAMILIES
    instance = generate("indset", random.Random("test-indset"), 24)  # k = 6 of 24 vertices
    edges = [clause for clause in instance.clauses if len(clause) == 2 and all(-24 <= lit < 0 for lit in clause)]
    assert edges and instance.name.endswith("-k6")
    with Solver(name="glucose4", bootstrap_with=instance.clauses) as solver:
        assert solver.solve()
        chosen = {literal for literal in solver.get_model() if 0 < literal <= 24}  # ("in", v) numbered first
        assert len(chosen) >= 6 and not any({-a, -b} <= chosen for a, b in edges)
        assert not solver.solve(assumptions=list(range(1, 25)))  # not every vertex: the edges forbid it


def test_phase_hint_validation_and_threshold():
    hint = PhaseHint(phases=(1, -2, 3), confidences=(0.9, 0.2, 0.5), threshold=0.5)
    assert hint.selected() == [1, 3] and hint.selected(variables=2) == [1]
    for phases, confidences in (((1, 2), (0.5,)), ((0, 1), (0.5, 0.5)), ((1, -1), (0.5, 0.5)), ((1,), (1.5,))):
        with pytest.raises(ValueError):
            PhaseHint(phases=phases, confidences=confidences)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    destination = tmp_path_factory.mktemp("weights")
    card = train(["random3sat", "flat"], 6, 1, destination, seed=1, config=ModelConfig(hidden=8, rounds=2))
    return destination, card


def test_train_writes_weights_card_and_held_out_accuracy(tiny_weights):
    destination, card = tiny_weights
    assert (destination / "MODEL_CARD.md").read_text().count("| random3sat |") == 1
    assert card["instances"]["held_out"] >= 2 and len(card["training_formulas"]) == card["instances"]["labelled"]
    predictor = load_predictor(destination)
    instance = generate("random3sat", random.Random("test-predict"), 30)
    hint = predictor.predict(instance.variables, instance.clauses, threshold=0.3)
    assert sorted(map(abs, hint.phases)) == list(range(1, 31)) and hint.inference_s > 0
    assert set(hint.selected()) <= set(hint.phases)
    with torch.no_grad():
        probabilities = torch.sigmoid(predictor.model(cnf_graph(instance.variables, instance.clauses)))
    assert [p >= 0.5 for p in probabilities.tolist()] == [literal > 0 for literal in hint.phases]


def test_training_data_at_chosen_sizes_of_a_held_out_family():
    dataset = build_dataset(["qwh"], 3, seed=0, sizes=(4, 5))
    assert len(dataset) == 3 and {item.instance.family for item in dataset} == {"qwh"}
    assert {item.instance.name.split("-")[0] for item in dataset} <= {"qwh4", "qwh5"}


@pytest.mark.parametrize("sizes", ["4,x", "0,3"])
def test_cli_train_bad_sizes_is_one_line_and_exit_2(tmp_path, capsys, sizes):
    from agent.__main__ import main

    assert main(["gnn", "train", "--family", "qwh", "--sizes", sizes, "--out", str(tmp_path / "w")]) == 2
    error = capsys.readouterr().err
    assert "--sizes" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()


def test_missing_weights_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no trained phase predictor"):
        load_predictor(tmp_path)


def test_cli_predict(tiny_weights, tmp_path, capsys):
    from agent.__main__ import main

    destination, _ = tiny_weights
    formula = tmp_path / "f.cnf"
    formula.write_text("p cnf 3 2\n1 -2 0\n2 3 0\n%\n0\n")
    assert main(["gnn", "predict", str(formula), "--weights", str(destination)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if not line.startswith("c ")]
    assert sorted(abs(int(literal)) for literal, _ in rows) == [1, 2, 3]


@pytest.mark.parametrize("content, options, message", [
    (None, (), "cannot read"),
    ("p cnf 3 5\n1 0\n", (), "header declares"),
    ("p cnf 1 1\n1 0\n", ("--threshold", "2"), "--threshold"),
    ("p cnf 1 1\n1 0\n", ("--weights", "/nonexistent"), "no trained phase predictor"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, content, options, message):
    from agent.__main__ import main

    formula = tmp_path / "f.cnf"
    if content is not None:
        formula.write_text(content)
    assert main(["gnn", "predict", str(formula), *options]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_packaged_weights_load_and_predict():
    predictor = load_predictor()
    assert predictor.card["held_out_accuracy"]["all"]["backbone_accuracy"] > 0.5
    hint = predictor.predict(3, [[1, 2], [-1, 3], [-2]])
    assert len(hint.phases) == 3 and all(0.0 <= c <= 1.0 for c in hint.confidences)
