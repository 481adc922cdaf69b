"""`python -m agent sae report RUN...`: which SAE features separate accepted from rejected model proposals.

Each model proposal made with `--sae` has a `features` event: the top features by mean activation over its tokens
(a feature outside that list counts as 0), the same for a randomly initialised SAE of the same shape (the control),
and the mean raw residual. Its label is its verdict; rejections are split by kind (does not parse, not initial,
not inductive, too weak, unknown).

Proposals of one task are not independent, so the analysis does not treat them so where it matters:
- per feature: frequency and mean strength in each group, Hedges' g with a 95% CI from a bootstrap that resamples
  whole tasks, a Mann-Whitney U test with Benjamini-Hochberg FDR; a feature is called reliable only when q < 0.05
  AND its task-bootstrap CI excludes 0;
- probes: L1 logistic regression on SAE features, on the control SAE's features, on the raw residual and on trivial
  features (tokens, log-probability, length), scored by out-of-fold AUROC with folds grouped by task
  (`GroupKFold`: no task is in both a training and a test fold), with a task-bootstrap CI; and the SAE probe again
  with shuffled labels.
The same comparison is made for "parses" against "does not parse", which has more of both groups.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.files import write_atomically

FDR_ALPHA = 0.05
BOOTSTRAP = 400
MIN_PROPOSALS = 5  # a feature is tested only if it fires in at least this many proposals
TOP_SHOWN = 10
SNIPPETS = 3


class ReportError(Exception):
    """Runs that cannot be reported on (none found, no features); one line for the user."""


@dataclass
class Proposals:
    """One row per model proposal with features."""

    task: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)  # verdict: accepted / rejected / unknown / error
    kind: list[str] = field(default_factory=list)  # accepted, does not parse, not initial, not inductive, too weak...
    tokens: list[int] = field(default_factory=list)
    logprob: list[float] = field(default_factory=list)
    length: list[int] = field(default_factory=list)
    sae: list[dict[int, float]] = field(default_factory=list)
    control: list[dict[int, float]] = field(default_factory=list)
    residual: list[list[float]] = field(default_factory=list)
    sae_path: str | None = None

    def __len__(self) -> int:
        return len(self.task)


def rejection_kind(verdict: dict[str, Any]) -> str:
    """The kind of a verdict, from its typed details (invariant verifier) or its stage (others)."""
    status = verdict.get("status")
    if status == "accepted":
        return "accepted"
    if status in ("unknown", "error"):
        return status
    details = verdict.get("details") or {}
    if details.get("stage") == "parse":
        return "does not parse"
    checks = details.get("checks") or {}
    for check, kind in (("initiation", "not initial"), ("consecution", "not inductive"), ("postcondition", "too weak")):
        if (checks.get(check) or {}).get("status") == "fails":
            return kind
    return str(details.get("stage") or "rejected")


def trace_paths(runs: list[Path]) -> list[Path]:
    paths: list[Path] = []
    for run in runs:
        if run.is_file():
            paths.append(run)
        elif (run / "trace.jsonl").is_file():
            paths.append(run / "trace.jsonl")
        elif (run / "traces").is_dir():
            paths += sorted((run / "traces").glob("*.jsonl"))
        else:
            raise ReportError(f"{run}: no trace.jsonl or traces/ folder")
    return paths


def load_proposals(runs: list[Path]) -> Proposals:
    from agent.trace import read_trace

    rows = Proposals()
    for path in trace_paths(runs):
        events = read_trace(path)
        task = next((event.task_id for event in events if event.type == "header"), path.stem)
        proposals = {event.id: event for event in events if event.type == "proposal"}
        verdicts: dict[int, dict[str, Any]] = {}
        for event in events:
            if event.type == "verdict" and event.round is None:
                verdicts.setdefault(event.proposal_id, event.verdict.model_dump(mode="json"))
        for event in events:
            if event.type != "features" or event.proposal_id not in verdicts:
                continue
            proposal, verdict, features = proposals[event.proposal_id], verdicts[event.proposal_id], event.features
            rows.task.append(task)
            rows.status.append(str(verdict.get("status")))
            rows.kind.append(rejection_kind(verdict))
            rows.tokens.append(int(proposal.tokens or 0))
            rows.logprob.append(float(proposal.logprob) if proposal.logprob is not None else 0.0)
            rows.length.append(len(proposal.text))
            rows.sae.append({entry["index"]: entry["mean"] for entry in features.get("proposal", [])})
            rows.control.append({entry["index"]: entry["mean"] for entry in features.get("control", [])})
            rows.residual.append(list(features.get("residual_mean") or []))
            rows.sae_path = rows.sae_path or features.get("sae")
    if not len(rows):
        raise ReportError("no model proposals with features in these runs (were they made with --sae?)")
    return rows


def dense(rows: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """[proposals, features seen] matrix and the feature numbers of its columns."""
    columns = np.array(sorted({index for row in rows for index in row}), dtype=int)
    position = {index: column for column, index in enumerate(columns)}
    matrix = np.zeros((len(rows), len(columns)))
    for row_number, row in enumerate(rows):
        for index, value in row.items():
            matrix[row_number, position[index]] = value
    return matrix, columns


def hedges_g(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise standardised mean difference a - b, small-sample corrected."""
    na, nb = a.shape[0], b.shape[0]
    pooled = np.sqrt(((na - 1) * a.var(0, ddof=1) + (nb - 1) * b.var(0, ddof=1)) / max(na + nb - 2, 1))
    correction = 1 - 3 / (4 * (na + nb) - 9)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(pooled > 0, (a.mean(0) - b.mean(0)) / pooled, 0.0)
    return g * correction


def task_bootstrap(groups: np.ndarray, rng: np.random.Generator, rounds: int = BOOTSTRAP) -> list[np.ndarray]:
    """Row indices of `rounds` resamples that draw whole tasks with replacement."""
    tasks = np.unique(groups)
    members = {task: np.flatnonzero(groups == task) for task in tasks}
    return [np.concatenate([members[task] for task in rng.choice(tasks, size=len(tasks))]) for _ in range(rounds)]


def feature_table(matrix: np.ndarray, columns: np.ndarray, positive: np.ndarray, groups: np.ndarray,
                  seed: int = 0) -> Any:
    """Per feature (firing in >= MIN_PROPOSALS proposals): frequency and strength per group, Hedges' g with a task
    bootstrap CI, Mann-Whitney p, BH q; sorted by q then |g|."""
    import pandas as pd
    from scipy.stats import mannwhitneyu
    from statsmodels.stats.multitest import multipletests

    tested = (matrix > 0).sum(0) >= MIN_PROPOSALS
    matrix, columns = matrix[:, tested], columns[tested]
    a, b = matrix[positive], matrix[~positive]
    if matrix.shape[1] == 0 or len(a) < 2 or len(b) < 2:
        return pd.DataFrame(columns=["feature", "freq_a", "freq_b", "mean_a", "mean_b", "g", "g_low", "g_high",
                                     "p", "q", "reliable"])
    g = hedges_g(a, b)
    rng = np.random.default_rng(seed)
    samples = []
    for rows in task_bootstrap(groups, rng):
        sample_positive = positive[rows]
        if sample_positive.sum() >= 2 and (~sample_positive).sum() >= 2:
            samples.append(hedges_g(matrix[rows][sample_positive], matrix[rows][~sample_positive]))
    low, high = (np.percentile(samples, [2.5, 97.5], axis=0) if samples else (np.full_like(g, np.nan),) * 2)
    p = mannwhitneyu(a, b, axis=0, alternative="two-sided").pvalue
    p = np.where(np.isnan(p), 1.0, p)
    q = multipletests(p, alpha=FDR_ALPHA, method="fdr_bh")[1]
    table = pd.DataFrame({
        "feature": columns, "freq_a": (a > 0).mean(0), "freq_b": (b > 0).mean(0), "mean_a": a.mean(0),
        "mean_b": b.mean(0), "g": g, "g_low": low, "g_high": high, "p": p, "q": q,
    })
    table["reliable"] = (table.q < FDR_ALPHA) & ((table.g_low > 0) | (table.g_high < 0))
    return table.assign(abs_g=table.g.abs()).sort_values(["q", "abs_g"], ascending=[True, False]).drop(columns="abs_g")


def grouped_folds(groups: np.ndarray, folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """GroupKFold splits: every task's proposals are all in one test fold."""
    from sklearn.model_selection import GroupKFold

    splits = min(folds, len(np.unique(groups)))
    if splits < 2:
        return []
    return list(GroupKFold(n_splits=splits).split(np.zeros(len(groups)), groups=groups))


def probe_auroc(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold AUROC of a standardised L1 logistic regression, folds grouped by task; CI by task bootstrap."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    result = {"proposals": int(len(labels)), "tasks": int(len(np.unique(groups))), "positives": int(labels.sum()),
              "auroc": math.nan, "low": math.nan, "high": math.nan}
    folds = grouped_folds(groups)
    if not folds or labels.min() == labels.max() or features.shape[1] == 0:
        return result
    scores = np.full(len(labels), np.nan)
    for train, test in folds:
        if labels[train].min() == labels[train].max():
            scores[test] = labels[train].mean()
            continue
        # L1 (a sparse probe): with L2, dozens of rarely firing standardised features drown the one that matters.
        model = make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, C=0.1, solver="liblinear"))
        model.fit(features[train], labels[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
    result["auroc"] = float(roc_auc_score(labels, scores))
    rng = np.random.default_rng(seed)
    boots = [roc_auc_score(labels[rows], scores[rows]) for rows in task_bootstrap(groups, rng, 200)
             if 0 < labels[rows].sum() < len(rows)]
    if boots:
        result["low"], result["high"] = (float(value) for value in np.percentile(boots, [2.5, 97.5]))
    return result


@dataclass
class Contrast:
    name: str  # "accepted vs rejected"
    group_a: str
    group_b: str
    positive: np.ndarray  # rows in group a
    rows: np.ndarray  # rows taking part


def contrasts(data: Proposals) -> list[Contrast]:
    status, kind = np.array(data.status), np.array(data.kind)
    decided = np.flatnonzero(np.isin(status, ("accepted", "rejected")))
    judged = np.flatnonzero(status != "error")
    return [
        Contrast("accepted vs rejected", "accepted", "rejected", status[decided] == "accepted", decided),
        Contrast("parses vs does not parse", "parses", "does not parse", kind[judged] != "does not parse", judged),
    ]


def analyse(data: Proposals, seed: int = 0) -> dict[str, Any]:
    """All tables for all contrasts (no files written)."""
    groups_all = np.array(data.task)
    sae_matrix, sae_columns = dense(data.sae)
    control_matrix, control_columns = dense(data.control)
    residual = np.array(data.residual) if data.residual and all(data.residual) else np.zeros((len(data), 0))
    trivial = np.column_stack([data.tokens, data.logprob, data.length]).astype(float)
    results = []
    for contrast in contrasts(data):
        rows, positive = contrast.rows, contrast.positive
        groups = groups_all[rows]
        entry: dict[str, Any] = {"contrast": contrast, "n_a": int(positive.sum()), "n_b": int((~positive).sum()),
                                 "tasks": int(len(np.unique(groups)))}
        entry["features"] = feature_table(sae_matrix[rows], sae_columns, positive, groups, seed)
        entry["control_features"] = feature_table(control_matrix[rows], control_columns, positive, groups, seed)
        labels = positive.astype(int)
        shuffled = np.random.default_rng(seed).permutation(labels)
        entry["probes"] = {
            "SAE features": probe_auroc(sae_matrix[rows], labels, groups, seed),
            "random SAE (same shape)": probe_auroc(control_matrix[rows], labels, groups, seed),
            "raw residual (mean over tokens)": probe_auroc(residual[rows], labels, groups, seed),
            "trivial (tokens, logprob, length)": probe_auroc(trivial[rows], labels, groups, seed),
            "SAE features, shuffled labels": probe_auroc(sae_matrix[rows], shuffled, groups, seed),
        }
        results.append(entry)
    return {"proposals": len(data), "tasks": len(set(data.task)), "kinds": _counts(data.kind), "contrasts": results}


def _counts(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def verdict_line(entry: dict[str, Any]) -> str:
    table = entry["features"]
    reliable = table[table.reliable] if len(table) else table
    if entry["n_a"] < 2 or entry["n_b"] < 2:
        return "too few proposals in one group to compare"
    if not len(reliable):
        return (f"no reliable difference: no feature has q < {FDR_ALPHA} with a task-bootstrap CI excluding 0 "
                f"({len(table)} features tested)")
    return f"{len(reliable)} of {len(table)} tested features differ reliably"


# --- snippets from the corpus -------------------------------------------------------------------------------------

def corpus_snippets(sae_path: Path, features: list[int], per_feature: int = SNIPPETS,
                    max_tokens: int = 60_000) -> dict[int, list[str]]:
    """For each feature, the corpus contexts where it fires most strongly (held-out split first, then training
    shards up to `max_tokens`), the firing token marked with [[ ]]."""
    import torch

    from agent.sae.collect import read_split
    from agent.sae.train import load_sae

    training = sae_path / "training.json"
    if not features or not training.is_file():
        return {}
    record = json.loads(training.read_text())
    activations = Path(record.get("activations", ""))
    if not (activations / "collection.json").is_file():  # trained elsewhere (the shipped SAE): this machine's cache
        from agent.sae.collect import activations_dir
        from agent.sae.hook import module_name_for

        metadata = json.loads((sae_path / "cfg.json").read_text()).get("metadata", {})
        layer = re.fullmatch(r"model\.layers\.(\d+)", module_name_for(metadata.get("hook_name") or ""))
        activations = activations_dir(metadata.get("model_name") or "", int(layer.group(1))) if layer else activations
        if not (activations / "collection.json").is_file():
            return {}
    from transformers import AutoTokenizer

    from agent.llm.models import resolve

    tokenizer = AutoTokenizer.from_pretrained(resolve(None).location, local_files_only=True)
    sae = load_sae(sae_path)
    splits = [read_split(activations, "heldout")]
    try:
        train = read_split(activations, "train")
        splits.append({key: value[:max_tokens] for key, value in train.items()})
    except FileNotFoundError:
        pass
    data = {key: torch.cat([split[key] for split in splits]) for key in splits[0]}
    chosen = torch.tensor(features)
    with torch.no_grad():
        values = torch.cat([sae.encode(chunk.float())[:, chosen] for chunk in data["activations"].split(8192)])
    windows, positions, tokens = data["window"], data["position"].long(), data["tokens"]
    snippets: dict[int, list[str]] = {}
    for column, feature in enumerate(features):
        top = values[:, column].topk(min(per_feature, len(values)))
        texts = []
        for value, row in zip(top.values, top.indices):
            if value <= 0:
                continue
            same = (windows == windows[row]) & (positions > positions[row] - 16) & (positions <= positions[row] + 4)
            context = [(int(p), int(t)) for p, t in zip(positions[same], tokens[same])]
            before = tokenizer.decode([t for p, t in context if p < positions[row]])
            at = tokenizer.decode([int(tokens[row])])
            after = tokenizer.decode([t for p, t in context if p > positions[row]])
            texts.append(f"{before}[[{at}]]{after}".replace("\n", "⏎") + f"  ({float(value):.2f})")
        snippets[feature] = texts
    return snippets


# --- writing ----------------------------------------------------------------------------------------------------

def _plot_png(entry: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (volcano, probes) = plt.subplots(1, 2, figsize=(11, 4))
    table = entry["features"]
    if len(table):
        colours = np.where(table.reliable, "tab:red", "tab:grey")
        volcano.scatter(table.g, -np.log10(table.q.clip(lower=1e-300)), c=colours, s=10)
        volcano.axhline(-math.log10(FDR_ALPHA), linestyle="--", color="black", linewidth=0.8)
    volcano.set_xlabel(f"Hedges' g ({entry['contrast'].group_a} − {entry['contrast'].group_b})")
    volcano.set_ylabel("−log10 q (BH)")
    volcano.set_title("SAE features (red: reliable)")
    names = list(entry["probes"])
    aurocs = [entry["probes"][name]["auroc"] for name in names]
    errors = np.array([[max(0.0, value - entry["probes"][name]["low"]) if not math.isnan(value) else 0,
                        max(0.0, entry["probes"][name]["high"] - value) if not math.isnan(value) else 0]
                       for name, value in zip(names, aurocs)]).T
    probes.barh(range(len(names)), np.nan_to_num(aurocs, nan=0.5), xerr=np.nan_to_num(errors), color="tab:blue")
    probes.set_yticks(range(len(names)), names, fontsize=8)
    probes.axvline(0.5, linestyle="--", color="black", linewidth=0.8)
    probes.set_xlim(0, 1)
    probes.set_xlabel("out-of-fold AUROC (GroupKFold by task), 95% task-bootstrap CI")
    figure.suptitle(entry["contrast"].name)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _top_each_way(table: Any) -> tuple[Any, Any]:
    return (table[table.g > 0].sort_values("g", ascending=False).head(TOP_SHOWN),
            table[table.g < 0].sort_values("g").head(TOP_SHOWN))


def _feature_rows(table: Any, snippets: dict[int, list[str]]) -> list[str]:
    lines = []
    for row in table.itertuples():
        lines.append(f"  {row.feature:>6}  g={row.g:+.2f} [{row.g_low:+.2f}, {row.g_high:+.2f}]  q={row.q:.3g}  "
                     f"freq {row.freq_a:.2f}/{row.freq_b:.2f}  mean {row.mean_a:.3f}/{row.mean_b:.3f}"
                     + ("  RELIABLE" if row.reliable else ""))
        lines += [f"          {snippet}" for snippet in snippets.get(int(row.feature), [])]
    return lines


def render_text(analysis: dict[str, Any], snippets: dict[int, list[str]]) -> str:
    lines = [f"{analysis['proposals']} model proposals with features, {analysis['tasks']} tasks",
             "verdict kinds: " + ", ".join(f"{kind} {count}" for kind, count in analysis["kinds"].items()), ""]
    for entry in analysis["contrasts"]:
        contrast = entry["contrast"]
        lines.append(f"== {contrast.name}: {entry['n_a']} {contrast.group_a}, {entry['n_b']} {contrast.group_b}, "
                     f"{entry['tasks']} tasks")
        lines.append("finding: " + verdict_line(entry))
        control = entry["control_features"]
        lines.append(f"random SAE of the same shape: {int(control.reliable.sum()) if len(control) else 0} of "
                     f"{len(control)} tested features 'reliable'")
        lines.append("probes (out-of-fold AUROC, GroupKFold by task, 95% task-bootstrap CI):")
        for name, probe in entry["probes"].items():
            lines.append(f"  {name:<36} {probe['auroc']:.3f} [{probe['low']:.3f}, {probe['high']:.3f}]  "
                         f"({probe['proposals']} proposals, {probe['positives']} positive, {probe['tasks']} tasks)")
        higher, lower = _top_each_way(entry["features"])
        lines.append(f"top features higher in '{contrast.group_a}' (feature, g [CI], q, freq a/b, mean a/b):")
        lines += _feature_rows(higher, snippets)
        lines.append(f"top features higher in '{contrast.group_b}':")
        lines += _feature_rows(lower, snippets)
        lines.append("")
    return "\n".join(lines) + "\n"


def render_html(analysis: dict[str, Any], snippets: dict[int, list[str]]) -> str:
    """One self-contained page: text, tables, plots embedded as data: URIs (works offline)."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>SAE feature report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}.rel{background:#fdd}"
             "code{font-size:11px}</style></head><body><h1>SAE features in accepted and rejected proposals</h1>",
             f"<p>{analysis['proposals']} model proposals with features from {analysis['tasks']} tasks. Verdict kinds: "
             + html.escape(", ".join(f"{k} {v}" for k, v in analysis["kinds"].items())) + "</p>"]
    for entry in analysis["contrasts"]:
        contrast = entry["contrast"]
        parts.append(f"<h2>{html.escape(contrast.name)}</h2><p>{entry['n_a']} {html.escape(contrast.group_a)}, "
                     f"{entry['n_b']} {html.escape(contrast.group_b)}, {entry['tasks']} tasks. <b>Finding: "
                     f"{html.escape(verdict_line(entry))}</b></p>")
        image = base64.b64encode(_plot_png(entry)).decode()
        parts.append(f"<img alt='plots' src='data:image/png;base64,{image}'>")
        parts.append("<table><tr><th>probe</th><th>AUROC</th><th>95% CI</th><th>proposals</th><th>positive</th>"
                     "<th>tasks</th></tr>")
        for name, probe in entry["probes"].items():
            parts.append(f"<tr><td>{html.escape(name)}</td><td>{probe['auroc']:.3f}</td><td>{probe['low']:.3f}–"
                         f"{probe['high']:.3f}</td><td>{probe['proposals']}</td><td>{probe['positives']}</td>"
                         f"<td>{probe['tasks']}</td></tr>")
        parts.append("</table>")
        for title, table in zip((f"higher in {contrast.group_a}", f"higher in {contrast.group_b}"),
                                _top_each_way(entry["features"])):
            parts.append(f"<h3>{html.escape(title)}</h3><table><tr><th>feature</th><th>g [95% CI]</th><th>q</th>"
                         "<th>freq a/b</th><th>mean a/b</th><th>corpus snippets</th></tr>")
            for row in table.itertuples():
                texts = "<br>".join(f"<code>{html.escape(text)}</code>" for text in snippets.get(int(row.feature), []))
                parts.append(f"<tr class='{'rel' if row.reliable else ''}'><td>{row.feature}</td><td>{row.g:+.2f} "
                             f"[{row.g_low:+.2f}, {row.g_high:+.2f}]</td><td>{row.q:.3g}</td><td>{row.freq_a:.2f}/"
                             f"{row.freq_b:.2f}</td><td>{row.mean_a:.3f}/{row.mean_b:.3f}</td><td>{texts}</td></tr>")
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(runs: list[Path], sae_path: Path | None = None, html: Path | None = None, out: Path | None = None,
                 seed: int = 0) -> str:
    """Analyse the runs; write tables (CSV, JSON) and plots into `out` and the page to `html`; return the text."""
    data = load_proposals(runs)
    analysis = analyse(data, seed)
    sae_folder = sae_path or (Path(data.sae_path) if data.sae_path else None)
    wanted: list[int] = []
    for entry in analysis["contrasts"]:
        for table in _top_each_way(entry["features"]):
            wanted += [int(feature) for feature in table.feature]
    snippets = corpus_snippets(sae_folder, sorted(set(wanted))) if sae_folder and sae_folder.is_dir() else {}
    text = render_text(analysis, snippets)
    out = out or (html.parent if html else None)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(out / "sae_report.txt", text)
        probes = []
        for number, entry in enumerate(analysis["contrasts"]):
            slug = entry["contrast"].name.replace(" ", "_")
            write_atomically(out / f"features_{slug}.csv", entry["features"].to_csv(index=False))
            (out / f"plots_{slug}.png").write_bytes(_plot_png(entry))
            probes += [{"contrast": entry["contrast"].name, "probe": name, **probe} for name, probe in entry["probes"].items()]
        write_atomically(out / "probes.json", json.dumps(probes, indent=2))
    if html is not None:
        write_atomically(html, render_html(analysis, snippets))
    return text
