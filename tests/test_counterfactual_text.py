"""Counterfactual texts: term swaps on tricky strings, and the flip-rate / TV analysis with intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdaudit.analysis.counterfactual_text import counterfactual_text_fairness
from kdaudit.data.counterfactual_text import BUILTIN_PAIRS, TermSwapper
from kdaudit.errors import InputDataError, UsageError

GENDER = TermSwapper((("women", "men", "gender"), ("woman", "man", "gender")))


@pytest.mark.parametrize(
    ("text", "want", "n"),
    [
        ("women and men", "men and women", 2),  # simultaneous: no double swap
        ("The WOMEN, and Men!", "The MEN, and Women!", 2),  # case pattern kept, punctuation kept
        ("Women's rights; men's rights.", "Men's rights; women's rights.", 2),
        (
            "mensch, menu, amen, women-folk",
            "mensch, menu, amen, men-folk",
            1,
        ),  # substrings untouched
        ("superwoman and man_made and man2", "superwoman and man_made and man2", 0),
        ('(woman)\n"MAN"', '(man)\n"WOMAN"', 2),
        ("", "", 0),
        ("Ich bin ein Mensch", "Ich bin ein Mensch", 0),
    ],
)
def test_swaps_on_tricky_strings(text: str, want: str, n: int) -> None:
    assert GENDER.swap(text) == (want, n)


def test_multiword_terms_and_files(tmp_path: Path) -> None:
    f = tmp_path / "terms.txt"
    f.write_text("# pairs\nafrican american, european american, race\nmuslims,christians\n\n")
    s = TermSwapper.from_file(f)
    assert s.swap("African  American and muslims") == ("European American and christians", 2)
    assert s.swap("african") == ("african", 0)
    assert s.categories_found("Muslims!") == {"custom"}
    bad = tmp_path / "bad.txt"
    bad.write_text("women\n")
    with pytest.raises(InputDataError, match="Line 1"):
        TermSwapper.from_file(bad)
    with pytest.raises(UsageError, match="paired with both"):
        TermSwapper((("a", "b", "x"), ("a", "c", "x")))
    with pytest.raises(InputDataError, match="does not exist"):
        TermSwapper.from_file(tmp_path / "missing.txt")


def test_builtin_list_is_consistent_and_covers_the_communities() -> None:
    s = TermSwapper.builtin()
    assert {c for _, _, c in BUILTIN_PAIRS} == {"gender", "religion", "race", "orientation"}
    for a, b, _ in BUILTIN_PAIRS:  # every swap is its own inverse
        assert s.swap(s.swap(a)[0])[0] == a and s.swap(b)[0] == a
    for term in (
        "women",
        "men",
        "muslims",
        "jews",
        "black",
        "arabs",
        "refugees",
        "gay",
        "hispanic",
    ):
        assert s.swap(term)[1] == 1, term


def _oracle(p: np.ndarray, q: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    flips = [np.argmax(p[i]) != np.argmax(q[i]) for i in rows]
    tvs = [sum(abs(p[i, c] - q[i, c]) for c in range(p.shape[1])) / 2 for i in rows]
    return float(np.mean(flips)), float(np.mean(tvs))


def test_point_values_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    n, c = 300, 3
    probs = {r: rng.dirichlet(np.ones(c), size=n) for r in ("teacher", "student")}
    cf = {r: rng.dirichlet(np.ones(c), size=n) for r in ("teacher", "student")}
    changed = rng.random(n) < 0.6
    groups = rng.choice(["a", "b", "c"], size=n)
    res = counterfactual_text_fairness(
        probs,
        cf,
        changed,
        sensitive_features={"g": groups},
        pairs=[("teacher", "student")],
        n_bootstrap=200,
        seed=1,
        min_group_size=10,
    ).to_dict()
    rows = np.flatnonzero(changed)
    for role in probs:
        flip, tv = _oracle(probs[role], cf[role], rows)
        assert res[role]["flip_rate"]["value"] == pytest.approx(flip)
        assert res[role]["mean_tv_distance"]["value"] == pytest.approx(tv)
        for rec in res[role]["by_group"]["g"]:
            sub = rows[groups[rows] == rec["group"]]
            assert rec["n"] == sub.size
            assert rec["flip_rate"]["value"] == pytest.approx(
                _oracle(probs[role], cf[role], sub)[0]
            )
            assert (
                rec["flip_rate"]["ci_low"]
                <= rec["flip_rate"]["value"]
                <= rec["flip_rate"]["ci_high"]
            )
    d = res["delta"]["teacher_vs_student"]
    assert d["mean_tv_distance"]["value"] == pytest.approx(
        res["student"]["mean_tv_distance"]["value"] - res["teacher"]["mean_tv_distance"]["value"]
    )
    assert 0.0 <= d["flip_rate"]["p_value"] <= 1.0
    assert res["config"]["n_changed"] == rows.size
    # no row changed: undefined with a reason, no crash
    none = counterfactual_text_fairness(probs, cf, np.zeros(n, bool), n_bootstrap=50).to_dict()
    assert none["teacher"]["flip_rate"]["value"] is None
    assert "no text" in none["teacher"]["flip_rate"]["undefined_reason"]


def _simulate(n_sims: int, n: int, delta_true: float, seed: int) -> tuple[float, float, float]:
    """Coverage of the flip-rate CI and of the paired-delta CI, and the false-alarm rate at delta 0."""
    rng = np.random.default_rng(seed)
    p_a = 0.2
    hit_level = hit_delta = alarms = 0
    eye = np.eye(2)
    for s in range(n_sims):
        # paired flips: a shared latent makes the two models' flips correlated
        u = rng.random(n)
        flip_a = u < p_a
        flip_b = (u < p_a + delta_true) if s % 2 else (rng.random(n) < p_a + delta_true)
        base = np.tile(eye[0], (n, 1))
        probs = {"teacher": base, "student": base}
        cf = {"teacher": eye[flip_a.astype(int)], "student": eye[flip_b.astype(int)]}
        res = counterfactual_text_fairness(
            probs, cf, np.ones(n, bool), pairs=[("teacher", "student")], n_bootstrap=400, seed=s
        ).to_dict()
        lvl = res["teacher"]["flip_rate"]
        hit_level += lvl["ci_low"] <= p_a <= lvl["ci_high"]
        d = res["delta"]["teacher_vs_student"]["flip_rate"]
        hit_delta += d["ci_low"] <= delta_true <= d["ci_high"]
        alarms += d["p_value"] < 0.05
    return hit_level / n_sims, hit_delta / n_sims, alarms / n_sims


def test_interval_coverage_by_simulation() -> None:
    # 200 simulated audits of 300 changed rows: 95% intervals should cover about 95% of the
    # time (binomial sd of the rate is 1.5 points; the percentile bootstrap runs slightly low)
    cover_level, cover_delta, alarms = _simulate(200, 300, 0.0, seed=7)
    assert 0.90 <= cover_level <= 0.99
    assert 0.90 <= cover_delta <= 1.0
    assert alarms <= 0.10  # delta 0: false alarms near 5%


@pytest.mark.slow
def test_interval_coverage_and_power_large() -> None:
    cover_level, cover_delta, _ = _simulate(1000, 400, 0.05, seed=11)
    assert 0.93 <= cover_level <= 0.97 and 0.93 <= cover_delta <= 0.975
    rng_power = _simulate(300, 400, 0.08, seed=3)[2]
    assert rng_power >= 0.8  # a true 8-point increase in flips is found most of the time
