"""Typical values of the unit-free I(f) (``lipschitz_normalized``) on real images and tables.

Reads the public data sets under ``../shared/data`` (MNIST test images, UCI
Adult), fits small scikit-learn models on one half and audits them on the
other half with kdaudit's individual-fairness analysis: a stronger "teacher",
a weaker "student" and a deliberately rough student. Prints, per data set,
the raw I(f) (input-distance units), the distance scale (median neighbour
distance), the normalized I(f) with its 95% interval, and the changes
student - teacher with their intervals, so that a policy's
``max_lipschitz_increase`` (judged on the normalized change) can be chosen.

Usage::

    python bench/lipschitz_scale.py            # MNIST 4,000 + Adult 6,000 eval rows
    python bench/lipschitz_scale.py --quick    # 2,000 eval rows each
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from kdaudit.analysis.individual_fairness import DEFAULT_SPARE, individual_fairness
from kdaudit.analysis.neighbors import knn_graph, representation

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _mnist(n_eval: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with gzip.open(DATA / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0
    with gzip.open(DATA / "mnist" / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x[:5000], y[:5000], x[-n_eval:], y[-n_eval:]


def _adult(n_eval: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cols = [
        "age",
        "workclass",
        "fnlwgt",
        "education",
        "education-num",
        "marital-status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
        "native-country",
        "income",
    ]
    df = pd.read_csv(DATA / "adult" / "adult.data", names=cols, skipinitialspace=True).dropna()
    y = (df.pop("income") == ">50K").to_numpy().astype(np.int64)
    x = pd.get_dummies(df, dtype=np.float32).to_numpy(np.float32)
    return x[:10000], y[:10000], x[-n_eval:], y[-n_eval:]


def _logits(model, x: np.ndarray) -> np.ndarray:
    return np.log(np.clip(model.predict_proba(x), 1e-12, None))


def audit(name: str, data, models, space: str) -> None:
    xtr, ytr, xev, yev = data
    t0 = time.perf_counter()
    logits = {}
    for role, model in models.items():
        model.fit(xtr, ytr)
        logits[role] = _logits(model, xev)
        acc = float((logits[role].argmax(1) == yev).mean())
        print(f"  {role:14s} accuracy {acc:.3f}")
    rep = representation(xev, space=space)
    graph = knn_graph(rep, k=5, spare=DEFAULT_SPARE, space=space)
    roles = list(logits)
    res = individual_fairness(
        graph, logits, pairs=[("teacher", r) for r in roles[1:]], n_bootstrap=1, seed=0
    )
    print(
        f"  space {space}, distance_scale {res.config.distance_scale:.4g} "
        f"({len(yev)} rows; {time.perf_counter() - t0:.0f} s)"
    )
    for role in roles:
        r = res.roles[role]
        ln = r.lipschitz_normalized
        print(
            f"  {role:14s} I(f) raw {r.lipschitz.value:.4g}   normalized {ln.value:.4f} "
            f"[{ln.ci_low:.4f}, {ln.ci_high:.4f}]"
        )
    base = res.roles["teacher"].lipschitz_normalized.value
    for pair, d in res.delta.items():
        dn = d.lipschitz_normalized
        ratio = (base + dn.value) / base
        print(
            f"  {pair:24s} change {dn.value:+.4f} [{dn.ci_low:+.4f}, {dn.ci_high:+.4f}]  "
            f"({ratio:.2f}x the teacher), p = {dn.p_value:.3g}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"needs the shared data folder {DATA}")
    n_img, n_tab = (2000, 2000) if args.quick else (4000, 6000)
    print("MNIST (flat pixels in [0, 1])")
    audit(
        "mnist",
        _mnist(n_img),
        {
            "teacher": MLPClassifier((128,), max_iter=60, random_state=0),
            "student": LogisticRegression(max_iter=300, C=0.05),
            "rough_student": LogisticRegression(max_iter=300, C=10.0),
        },
        "flat",
    )
    print("UCI Adult (standardized one-hot table)")
    audit(
        "adult",
        _adult(n_tab),
        {
            "teacher": HistGradientBoostingClassifier(random_state=0),
            "student": LogisticRegression(max_iter=500),
            "rough_student": HistGradientBoostingClassifier(
                max_depth=None,
                max_leaf_nodes=255,
                min_samples_leaf=2,
                learning_rate=0.5,
                random_state=0,
            ),
        },
        "standardized",
    )


if __name__ == "__main__":
    main()
