"""Bad input to every analyzer: one table of (entry point, bad input) -> (error type, message).

scikit-learn's ``test_common`` habit: the negative cases are stated once, as rows, and each
row names the public function, what is wrong, the exception family (which fixes the CLI's
exit code: UsageError/InputDataError -> 2) and a key fragment of the message, so a refactor
may move code freely but must keep the user-facing contract. ``bench/raise_coverage.py``
measures how many deliberate raises the suite runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from kdaudit.analysis.accuracy import accuracy_analysis
from kdaudit.analysis.anchored import anchored_individual_fairness, use_anchors
from kdaudit.analysis.ann import anchor_mask
from kdaudit.analysis.class_shift import class_shift, class_shift_multirun
from kdaudit.analysis.counterfactual_text import counterfactual_text_fairness
from kdaudit.analysis.group_fairness import group_fairness, intersectional_groups
from kdaudit.analysis.individual_fairness import individual_fairness
from kdaudit.analysis.multitest import bh_adjust
from kdaudit.analysis.neighbors import knn_graph, representation
from kdaudit.analysis.robustness import robustness
from kdaudit.analysis.stats import adjust_pvalues, percentile_ci
from kdaudit.analysis.tables import merge_tables, reduce_rows
from kdaudit.engine.logits import LogitArray
from kdaudit.errors import InputDataError, KDAuditError, UsageError

N = 60
RNG = np.random.default_rng(7)
Y = RNG.integers(0, 2, N)
P_T = np.where(RNG.random(N) < 0.9, Y, 1 - Y)
P_S = np.where(RNG.random(N) < 0.7, Y, 1 - Y)
SEX = np.array(["F", "M"] * (N // 2))
X = RNG.normal(size=(N, 3))
LOGITS = RNG.normal(size=(N, 2))
GRAPH = knn_graph(representation(X), k=5)
X_NAN = X.copy()
X_NAN[4, 1] = np.nan


def _cs(**kw: Any) -> Any:
    args: dict[str, Any] = {"n_classes": 2}
    args.update(kw)
    y = args.pop("y", Y)
    a = args.pop("a", P_T)
    b = args.pop("b", P_S)
    return class_shift(y, a, b, **args)


def _csm(**kw: Any) -> Any:
    args: dict[str, Any] = {"n_classes": 2}
    args.update(kw)
    y = args.pop("y", Y)
    a = args.pop("a", [P_T, P_T])
    b = args.pop("b", [P_S, P_S])
    return class_shift_multirun(y, a, b, **args)


def _gf(**kw: Any) -> Any:
    args: dict[str, Any] = {
        "n_classes": 2,
        "pairs": [("teacher", "student")],
        "n_bootstrap": 0,
    }
    args.update(kw)
    y = args.pop("y", Y)
    preds = args.pop("preds", {"teacher": P_T, "student": P_S})
    sens = args.pop("sens", SEX)
    return group_fairness(y, preds, sens, **args)


def _acc(**kw: Any) -> Any:
    args: dict[str, Any] = {"pairs": [("teacher", "student")], "n_bootstrap": 0}
    args.update(kw)
    y = args.pop("y", Y)
    preds = args.pop("preds", {"teacher": P_T, "student": P_S})
    return accuracy_analysis(y, preds, **args)


def _if(**kw: Any) -> Any:
    args: dict[str, Any] = {"n_bootstrap": 0}
    args.update(kw)
    graph = args.pop("graph", GRAPH)
    probs = args.pop("probs", {"teacher": LOGITS})
    return individual_fairness(graph, probs, **args)


def _rob(**kw: Any) -> Any:
    args: dict[str, Any] = {"split": np.array(["id", "ood"] * (N // 2)), "n_bootstrap": 0}
    args.update(kw)
    y = args.pop("y", Y)
    preds = args.pop("preds", {"teacher": P_T, "student": P_S})
    return robustness(y, preds, **args)


def _cf_text(**kw: Any) -> Any:
    probs = kw.pop("probs", {"teacher": np.full((N, 2), 0.5)})
    cf = kw.pop("cf", {"teacher": np.full((N, 2), 0.5)})
    changed = kw.pop("changed", np.ones(N, dtype=bool))
    return counterfactual_text_fairness(probs, cf, changed, n_bootstrap=0, **kw)


def _anchored(**kw: Any) -> Any:
    args: dict[str, Any] = {"n_anchors": 20, "k": 3, "metric": "euclidean", "space": "flat"}
    args.update(kw)
    rep = args.pop("rep", X.astype(np.float32))
    return anchored_individual_fairness(rep, {"teacher": LOGITS}, **args)


def _tables_disagree() -> Any:
    a = reduce_rows(Y, {"teacher": [P_T]}, n_classes=2)
    b = reduce_rows(Y, {"teacher": [P_T], "student": [P_S]}, n_classes=2)
    return merge_tables([a, b])


# (id, call, exception type, message fragment)
# fmt: off
CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # ---- class shift (single run, exact McNemar)
    ("cs-alpha-0", lambda: _cs(alpha=0.0), UsageError, "alpha in (0, 1)"),
    ("cs-alpha-1", lambda: _cs(alpha=1.0), UsageError, "alpha in (0, 1)"),
    ("cs-correction", lambda: _cs(correction="bonferroni"), UsageError, "correction"),
    ("cs-n-classes-0", lambda: _cs(n_classes=0), UsageError, "n_classes >= 1"),
    ("cs-empty", lambda: _cs(y=Y[:0], a=P_T[:0], b=P_S[:0]), InputDataError, "at least one"),
    ("cs-2d-labels", lambda: _cs(y=Y.reshape(-1, 2)), InputDataError, "1-D"),
    ("cs-length", lambda: _cs(b=P_S[:-1]), InputDataError, "rows like y_true"),
    ("cs-float-labels", lambda: _cs(a=P_T + 0.5), InputDataError, "integer class labels"),
    ("cs-nan-labels", lambda: _cs(a=np.full(N, np.nan)), InputDataError, "integer class"),
    ("cs-out-of-range", lambda: _cs(a=P_T + 5), InputDataError, "labels in [0, 2)"),
    # ---- class shift (several runs, Welch)
    ("csm-one-run", lambda: _csm(a=[P_T]), UsageError, "at least 2 runs"),
    ("csm-empty", lambda: _csm(y=Y[:0], a=[P_T[:0]] * 2, b=[P_S[:0]] * 2), InputDataError, "at least one"),
    ("csm-length", lambda: _csm(b=[P_S, P_S[:-1]]), InputDataError, "rows like y_true"),
    ("csm-bad-alpha", lambda: _csm(alpha=2.0), UsageError, "alpha"),
    # ---- group fairness
    ("gf-one-class", lambda: _gf(n_classes=1), UsageError, "n_classes >= 2"),
    ("gf-bad-B", lambda: _gf(n_bootstrap=-1), UsageError, "n_bootstrap >= 0"),
    ("gf-confidence", lambda: _gf(confidence=1.0), UsageError, "confidence in (0, 1)"),
    ("gf-empty", lambda: _gf(y=Y[:0], preds={"teacher": P_T[:0]}, sens=SEX[:0], pairs=[]), InputDataError, "at least one sample"),
    ("gf-no-roles", lambda: _gf(preds={}, pairs=[]), UsageError, "at least one role"),
    ("gf-pair-unknown", lambda: _gf(pairs=[("teacher", "ghost")]), UsageError, "ghost"),
    ("gf-pair-shape", lambda: _gf(pairs=[("teacher",)]), UsageError, "(reference, other)"),
    ("gf-sens-length", lambda: _gf(sens=SEX[:-1]), InputDataError, "sensitive_features of shape"),
    ("gf-sens-2d", lambda: _gf(sens=np.stack([SEX, SEX], 1)), InputDataError, "like y_true; got (60, 2)"),
    ("gf-pos-label", lambda: _gf(positive_label=2), UsageError, "positive_label in [0, 2)"),
    ("gf-pred-length", lambda: _gf(preds={"teacher": P_T, "student": P_S[:-1]}), InputDataError, "rows like y_true"),
    ("gf-intersect-none", lambda: intersectional_groups({}), UsageError, "at least one sensitive"),
    ("gf-intersect-length", lambda: intersectional_groups({"a": SEX, "b": SEX[:-1]}), InputDataError, "b"),
    # ---- accuracy
    ("acc-empty", lambda: _acc(y=Y[:0], preds={"teacher": P_T[:0]}, pairs=[]), InputDataError, "at least one sample"),
    ("acc-bad-B", lambda: _acc(n_bootstrap=-5), UsageError, "n_bootstrap >= 0"),
    ("acc-pair", lambda: _acc(pairs=[("teacher", "nobody")]), UsageError, "nobody"),
    ("acc-length", lambda: _acc(preds={"teacher": P_T, "student": P_S[:3]}), InputDataError, "rows like y_true"),
    # ---- individual fairness (kNN graph, Lipschitz, consistency, counterfactual)
    ("if-no-models", lambda: _if(probs={}), UsageError, "at least one model"),
    ("if-reserved-role", lambda: _if(probs={"config": LOGITS}), UsageError, "reserved"),
    ("if-bad-B", lambda: _if(n_bootstrap=-1), UsageError, "n_bootstrap >= 0"),
    ("if-rows", lambda: _if(probs={"teacher": LOGITS[:-1]}), InputDataError, "one row per sample"),
    ("if-consistency-k", lambda: _if(consistency_k=0), UsageError, "consistency_k >= 1"),
    ("if-pred-shape", lambda: _if(predictions={"teacher": P_T[:-1]}), InputDataError, "predictions of shape"),
    ("if-cf-classes", lambda: _if(counterfactual={"teacher": np.zeros((N, 3))}), InputDataError, "counterfactual outputs with 2 classes"),
    ("if-cf-groups", lambda: _if(counterfactual={"teacher": LOGITS}, sensitive_features=SEX[:-1]), InputDataError, "sensitive_features of shape"),
    ("logits-none", lambda: LogitArray([]), InputDataError, "at least one block"),
    ("logits-1d", lambda: LogitArray([np.zeros(3)]), InputDataError, "2-D logit blocks"),
    ("logits-nan", lambda: LogitArray.from_array(np.full((2, 2), np.nan)).check_finite("student"), InputDataError, "NaN or inf (first at row 0)"),
    ("rep-space", lambda: representation(X, space="pca"), UsageError, "space"),
    ("rep-no-embedding", lambda: representation(X, space="embedding"), UsageError, "embedding"),
    ("rep-no-x", lambda: representation(None), InputDataError, "model inputs"),
    ("rep-multi-input", lambda: representation({"ids": X, "mask": X}), InputDataError, "several input arrays"),
    ("rep-empty", lambda: representation(X[:0]), InputDataError, "at least one row"),
    ("rep-strings", lambda: representation(SEX.reshape(-1, 1)), InputDataError, "numeric"),
    ("rep-no-features", lambda: representation(np.zeros((N, 0))), InputDataError, "at least one feature"),
    ("rep-nan", lambda: representation(X_NAN), InputDataError, "NaN or inf (first at row 4)"),
    ("knn-metric", lambda: knn_graph(X, metric="manhattan"), UsageError, "metric"),
    ("knn-k0", lambda: knn_graph(X, k=0), UsageError, "k >= 1"),
    ("knn-k-too-big", lambda: knn_graph(X[:4], k=4), InputDataError, "more than k=4 samples"),
    ("knn-spare", lambda: knn_graph(X, k=2, spare=-1), UsageError, "spare >= 0"),
    ("anchors-negative", lambda: use_anchors(N, -1), UsageError, "--anchors must be >= 0"),
    ("anchor-fraction", lambda: anchor_mask(N, 0.0), UsageError, "fraction"),
    ("anchored-k", lambda: _anchored(k=N), UsageError, "k for nearest neighbours"),
    ("anchored-too-few", lambda: _anchored(n_anchors=0.01), UsageError, "anchor row"),
    # ---- robustness (P2)
    ("rob-empty", lambda: _rob(y=Y[:0], preds={"teacher": P_T[:0]}, split=None, bias_attribute=SEX[:0]), InputDataError, "n_samples > 0"),
    ("rob-no-models", lambda: _rob(preds={}), UsageError, "at least one model"),
    ("rob-reserved", lambda: _rob(preds={"delta": P_T}), UsageError, "reserved"),
    ("rob-neither", lambda: _rob(split=None), UsageError, "split array or a bias attribute"),
    ("rob-bad-B", lambda: _rob(n_bootstrap=-2), UsageError, "n_bootstrap >= 0"),
    ("rob-pred-shape", lambda: _rob(preds={"teacher": P_T[:-1]}), InputDataError, "predictions of shape"),
    ("rob-split-shape", lambda: _rob(split=SEX[:-1]), InputDataError, "split of shape"),
    ("rob-gap-def", lambda: _rob(gap_definition="biggest"), UsageError, "gap_definition"),
    ("rob-gap-needs-split", lambda: _rob(split=None, bias_attribute=SEX, gap_definition="reference_minus_worst"), UsageError, "needs a split array"),
    ("rob-reference", lambda: _rob(reference_split="train"), UsageError, "not a split value"),
    # ---- counterfactual text
    ("cft-rows", lambda: _cf_text(cf={"teacher": np.full((N - 1, 2), 0.5)}), InputDataError, "expected 60"),
    # ---- multiple testing and intervals
    ("adjust-correction", lambda: adjust_pvalues(np.array([0.1]), "sidak"), UsageError, "correction"),
    ("bh-2d", lambda: bh_adjust(np.zeros((2, 2))), ValueError, "1-D array of p-values"),
    ("ci-confidence", lambda: percentile_ci(np.zeros((5, 1)), 0.0), UsageError, "confidence"),
    # ---- count tables (sharded statistics)
    ("table-pred-shape", lambda: reduce_rows(Y, {"teacher": [P_T[:-1]]}, n_classes=2), InputDataError, "predictions of the teacher"),
    ("table-range", lambda: reduce_rows(Y, {"teacher": [P_T + 2]}, n_classes=2), InputDataError, "values outside 0..1"),
    ("table-groups", lambda: reduce_rows(Y, {"teacher": [P_T]}, n_classes=2, sensitive_features={"sex": SEX[:-1]}), InputDataError, "values of"),
    ("table-merge-none", lambda: merge_tables([]), InputDataError, "at least one table"),
    ("table-merge-disagree", _tables_disagree, InputDataError, "disagree"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_the_documented_error(
    call: Callable[[], Any], exc: type[Exception], fragment: str
) -> None:
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert fragment in message, message
    # one line a user can read: no traceback text, no repr of an array
    assert "\n" not in message and "Traceback" not in message
    if isinstance(info.value, KDAuditError):
        assert info.value.exit_code == 2


def test_table_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
