"""Loaders for public tabular fairness data sets, read from a path the user gives.

Nothing is downloaded. Specs (``load_dataset`` / ``--data``):

* ``adult:PATH`` -- UCI Adult (``adult.data`` or ``adult.test``). Label 1 =
  income ``>50K``. Sensitive: ``sex``, ``race``.
* ``compas:PATH`` -- ProPublica ``compas-scores-two-years.csv`` after the
  standard ProPublica filter. Label 1 = ``two_year_recid``. Sensitive:
  ``race``, ``sex``, ``age_cat``.
* ``german:PATH`` -- Statlog German credit (``german.data``). Label 1 = good
  credit (class 1). Sensitive: ``sex`` (from attribute 9), ``age`` (``<=25`` /
  ``>25``), ``foreign_worker`` (``yes`` / ``no``).

Features are numeric: categorical columns one-hot encoded (one column per
category, in a fixed order), numeric columns standardized. For Adult the
categories and the means/standard deviations are fixed constants taken from
the public ``adult.data`` training file, so ``adult.data`` and ``adult.test``
encode to the same columns on the same scale. COMPAS and German credit are
single files: categories are the sorted values present and statistics come
from the rows kept. Every choice is recorded in ``Dataset.extras["encoding"]``.
The sensitive attributes are also ordinary features (the common setup in the
fairness literature); a user who wants them out can drop their columns by name
(``Dataset.feature_names``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.data.dataset import Dataset, as_group_labels, fingerprint
from kdaudit.errors import InputDataError, UsageError
from kdaudit.hashing import file_sha256

__all__ = [
    "ADULT_CATEGORIES",
    "ADULT_COLUMNS",
    "ADULT_NUMERIC",
    "COMPAS_CATEGORICAL",
    "COMPAS_NUMERIC",
    "COMPAS_REQUIRED",
    "GERMAN_COLUMNS",
    "GERMAN_NUMERIC",
    "GERMAN_SEX",
    "load_adult",
    "load_compas",
    "load_german",
    "read_adult",
    "read_compas",
    "read_german",
]

ADULT_COLUMNS = (
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
)
# mean and population std over the 32,561 rows of the public adult.data
ADULT_NUMERIC: dict[str, tuple[float, float]] = {
    "age": (38.58164675532078, 13.640223092304275),
    "education-num": (10.0806793403151, 2.5726808256012865),
    "capital-gain": (1077.6488437087312, 7385.178676947625),
    "capital-loss": (87.303829734959, 402.9540308274865),
    "hours-per-week": (40.437455852092995, 12.347239075707988),
}
ADULT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "workclass": (
        "?",
        "Federal-gov",
        "Local-gov",
        "Never-worked",
        "Private",
        "Self-emp-inc",
        "Self-emp-not-inc",
        "State-gov",
        "Without-pay",
    ),
    "marital-status": (
        "Divorced",
        "Married-AF-spouse",
        "Married-civ-spouse",
        "Married-spouse-absent",
        "Never-married",
        "Separated",
        "Widowed",
    ),
    "occupation": (
        "?",
        "Adm-clerical",
        "Armed-Forces",
        "Craft-repair",
        "Exec-managerial",
        "Farming-fishing",
        "Handlers-cleaners",
        "Machine-op-inspct",
        "Other-service",
        "Priv-house-serv",
        "Prof-specialty",
        "Protective-serv",
        "Sales",
        "Tech-support",
        "Transport-moving",
    ),
    "relationship": (
        "Husband",
        "Not-in-family",
        "Other-relative",
        "Own-child",
        "Unmarried",
        "Wife",
    ),
    "race": ("Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"),
    "sex": ("Female", "Male"),
    "native-country": (
        "?",
        "Cambodia",
        "Canada",
        "China",
        "Columbia",
        "Cuba",
        "Dominican-Republic",
        "Ecuador",
        "El-Salvador",
        "England",
        "France",
        "Germany",
        "Greece",
        "Guatemala",
        "Haiti",
        "Holand-Netherlands",
        "Honduras",
        "Hong",
        "Hungary",
        "India",
        "Iran",
        "Ireland",
        "Italy",
        "Jamaica",
        "Japan",
        "Laos",
        "Mexico",
        "Nicaragua",
        "Outlying-US(Guam-USVI-etc)",
        "Peru",
        "Philippines",
        "Poland",
        "Portugal",
        "Puerto-Rico",
        "Scotland",
        "South",
        "Taiwan",
        "Thailand",
        "Trinadad&Tobago",
        "United-States",
        "Vietnam",
        "Yugoslavia",
    ),
}
COMPAS_NUMERIC = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")
COMPAS_CATEGORICAL = ("sex", "age_cat", "race", "c_charge_degree")
COMPAS_REQUIRED = (
    *COMPAS_NUMERIC,
    *COMPAS_CATEGORICAL,
    "two_year_recid",
    "days_b_screening_arrest",
    "is_recid",
    "score_text",
)
GERMAN_COLUMNS = (
    "checking_status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "employment_since",
    "installment_rate",
    "personal_status_sex",
    "other_debtors",
    "residence_since",
    "property",
    "age",
    "other_installment_plans",
    "housing",
    "existing_credits",
    "job",
    "people_liable",
    "telephone",
    "foreign_worker",
    "class",
)
GERMAN_NUMERIC = (
    "duration",
    "credit_amount",
    "installment_rate",
    "residence_since",
    "age",
    "existing_credits",
    "people_liable",
)
GERMAN_SEX = {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}


def _need_path(name: str, arg: str | None, example: str) -> Path:
    if not arg:
        raise UsageError(
            f"The {name} data set is read from a file you give; got no path.",
            tip=f"Use '{name}:PATH', e.g. '{name}:{example}'. kdaudit never downloads data.",
        )
    path = Path(arg)
    if not path.is_file():
        raise InputDataError(
            f"{name} data file {arg!r} does not exist or is not a file.",
            tip=f"Point '{name}:PATH' at your copy of {example}.",
        )
    return path


def _encode(
    df: Any,
    *,
    numeric: Mapping[str, tuple[float, float]],
    categorical: Mapping[str, Sequence[str]],
) -> tuple[np.ndarray, list[str]]:
    """Standardized numeric columns then one-hot categoricals, float32."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col, (mean, std) in numeric.items():
        values = df[col].to_numpy(dtype=np.float64)
        blocks.append(((values - mean) / (std if std > 0 else 1.0))[:, None])
        names.append(col)
    for col, cats in categorical.items():
        values = df[col].astype(str).to_numpy()
        blocks.append((values[:, None] == np.asarray(cats, dtype=str)[None, :]).astype(np.float64))
        names += [f"{col}={c}" for c in cats]
    return np.concatenate(blocks, axis=1).astype(np.float32), names


def _select(
    available: dict[str, np.ndarray], sensitive: Sequence[str] | None, name: str
) -> dict[str, Any]:
    names = list(sensitive) if sensitive else list(available)
    out = {}
    for s in names:
        if s not in available:
            raise UsageError(
                f"The {name} data set has no sensitive attribute {s!r}; it has "
                f"{', '.join(available)}."
            )
        out[s] = as_group_labels(available[s], s)
    return out


def _finish(
    name: str,
    path: Path,
    x: np.ndarray,
    y: np.ndarray,
    feature_names: list[str],
    sens: dict[str, np.ndarray],
    encoding: dict[str, Any],
    label: str,
) -> Dataset:
    sha = file_sha256(path)
    return Dataset(
        y_true=y.astype(np.int64),
        x=x,
        sensitive_features=sens,
        path=f"{name}:{path}",
        sha256=sha,
        fingerprint=fingerprint(sha, kind=f"builtin-{name}", sensitive=list(sens)),
        label=label,
        feature_names=tuple(feature_names),
        extras={"encoding": encoding, "class_names": encoding["class_names"]},
    )


def read_adult(path: str | Path) -> Any:
    """Read an Adult file (``adult.data`` or ``adult.test``) as a pandas DataFrame.

    Handles the test file's junk first line and its labels ending in a period.
    Missing values (``?``) are kept as the category ``?``; no rows are dropped.
    """
    import pandas as pd

    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    skip = 1 if first.startswith("|") else 0
    try:
        df = pd.read_csv(
            path,
            header=None,
            names=list(ADULT_COLUMNS),
            skipinitialspace=True,
            skiprows=skip,
            dtype=str,
            keep_default_na=False,
        )
    except Exception as exc:  # pandas raises many kinds for malformed text
        raise InputDataError(f"Could not read {str(path)!r} as UCI Adult: {exc}") from exc
    df = df[df["income"].str.strip() != ""]
    if df.shape[0] == 0 or df["sex"].isna().any():
        raise InputDataError(
            f"{str(path)!r} does not look like UCI Adult: expected 15 comma-separated "
            "columns ending in the income label.",
            tip="Pass adult.data or adult.test from the UCI repository.",
        )
    df = df.reset_index(drop=True)
    df["income"] = df["income"].str.strip().str.rstrip(".")
    bad = sorted(set(df["income"]) - {"<=50K", ">50K"})
    if bad:
        raise InputDataError(f"Unexpected income labels in {str(path)!r}: {bad[:5]}.")
    for col in ADULT_NUMERIC:
        df[col] = pd.to_numeric(df[col], errors="raise")
    return df


def load_adult(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``adult:PATH``: UCI Adult, label 1 = ``>50K``, sensitive ``sex`` and ``race``."""
    path = _need_path("adult", arg, "adult.test")
    try:
        df = read_adult(path)
    except ValueError as exc:
        raise InputDataError(
            f"Non-numeric values in a numeric column of {str(path)!r}: {exc}"
        ) from exc
    x, names = _encode(df, numeric=ADULT_NUMERIC, categorical=ADULT_CATEGORIES)
    y = (df["income"] == ">50K").to_numpy().astype(np.int64)
    sens = _select(
        {"sex": df["sex"].to_numpy(dtype=str), "race": df["race"].to_numpy(dtype=str)},
        sensitive,
        "adult",
    )
    encoding = {
        "numeric": {
            k: {"mean": m, "std": s, "source": "adult.data"} for k, (m, s) in ADULT_NUMERIC.items()
        },
        "categorical": {k: list(v) for k, v in ADULT_CATEGORIES.items()},
        "dropped": ["fnlwgt", "education"],
        "label": "income",
        "positive": ">50K",
        "class_names": ["<=50K", ">50K"],
    }
    return _finish("adult", path, x, y, names, sens, encoding, "income")


def read_compas(path: str | Path, *, propublica_filter: bool = True) -> Any:
    """Read ``compas-scores-two-years.csv``; apply the standard ProPublica filter by default.

    The filter keeps rows with ``-30 <= days_b_screening_arrest <= 30``,
    ``is_recid != -1``, ``c_charge_degree != 'O'`` and ``score_text != 'N/A'``.
    """
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InputDataError(f"Could not read {str(path)!r} as a CSV file: {exc}") from exc
    missing = [c for c in COMPAS_REQUIRED if c not in df.columns]
    if missing:
        raise InputDataError(
            f"{str(path)!r} does not look like ProPublica's compas-scores-two-years.csv; "
            f"missing columns {missing}.",
        )
    if propublica_filter:
        keep = (
            df["days_b_screening_arrest"].between(-30, 30)
            & (df["is_recid"] != -1)
            & (df["c_charge_degree"].astype(str) != "O")
            & (df["score_text"].astype(str) != "N/A")
            & df["score_text"].notna()
        )
        df = df[keep]
    return df.reset_index(drop=True)


def load_compas(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``compas:PATH``: ProPublica COMPAS (filtered), label 1 = two-year recidivism."""
    path = _need_path("compas", arg, "compas-scores-two-years.csv")
    df = read_compas(path)
    if df.shape[0] == 0:
        raise InputDataError(f"No rows of {str(path)!r} pass the ProPublica filter.")
    numeric = {c: (float(df[c].mean()), float(df[c].std(ddof=0))) for c in COMPAS_NUMERIC}
    categorical = {c: sorted(df[c].astype(str).unique()) for c in COMPAS_CATEGORICAL}
    x, names = _encode(df, numeric=numeric, categorical=categorical)
    y = df["two_year_recid"].to_numpy().astype(np.int64)
    sens = _select(
        {c: df[c].astype(str).to_numpy(dtype=str) for c in ("race", "sex", "age_cat")},
        sensitive,
        "compas",
    )
    encoding = {
        "numeric": {
            k: {"mean": m, "std": s, "source": "this file"} for k, (m, s) in numeric.items()
        },
        "categorical": categorical,
        "filter": "ProPublica: -30 <= days_b_screening_arrest <= 30, is_recid != -1, "
        "c_charge_degree != 'O', score_text != 'N/A'",
        "label": "two_year_recid",
        "positive": 1,
        "class_names": ["no recid", "recid"],
    }
    return _finish("compas", path, x, y, names, sens, encoding, "two_year_recid")


def read_german(path: str | Path) -> Any:
    """Read Statlog ``german.data`` (whitespace separated, 21 columns, no header)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, names=list(GERMAN_COLUMNS), dtype=str)
    except Exception as exc:
        raise InputDataError(f"Could not read {str(path)!r} as German credit: {exc}") from exc
    if df.shape[0] == 0 or df["class"].isna().any() or not set(df["class"]) <= {"1", "2"}:
        raise InputDataError(
            f"{str(path)!r} does not look like Statlog german.data: expected 21 "
            "whitespace-separated columns with class 1 or 2 last."
        )
    for col in GERMAN_NUMERIC:
        df[col] = pd.to_numeric(df[col])
    return df


def load_german(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``german:PATH``: German credit, label 1 = good credit; sensitive sex, age, foreign_worker."""
    path = _need_path("german", arg, "german.data")
    try:
        df = read_german(path)
    except ValueError as exc:
        raise InputDataError(
            f"Non-numeric values in a numeric column of {str(path)!r}: {exc}"
        ) from exc
    numeric = {c: (float(df[c].mean()), float(df[c].std(ddof=0))) for c in GERMAN_NUMERIC}
    cat_cols = [c for c in GERMAN_COLUMNS if c not in GERMAN_NUMERIC and c != "class"]
    categorical = {c: sorted(df[c].astype(str).unique()) for c in cat_cols}
    x, names = _encode(df, numeric=numeric, categorical=categorical)
    y = (df["class"] == "1").to_numpy().astype(np.int64)
    status = df["personal_status_sex"].astype(str)
    unknown = sorted(set(status) - set(GERMAN_SEX))
    if unknown:
        raise InputDataError(f"Unknown personal status codes in {str(path)!r}: {unknown}.")
    sens = _select(
        {
            "sex": status.map(GERMAN_SEX).to_numpy(dtype=str),
            "age": np.where(df["age"].to_numpy() <= 25, "<=25", ">25"),
            "foreign_worker": np.where(df["foreign_worker"].astype(str) == "A201", "yes", "no"),
        },
        sensitive,
        "german",
    )
    encoding = {
        "numeric": {
            k: {"mean": m, "std": s, "source": "this file"} for k, (m, s) in numeric.items()
        },
        "categorical": categorical,
        "sensitive": {
            "sex": GERMAN_SEX,
            "age": "<=25 vs >25",
            "foreign_worker": "A201 yes, A202 no",
        },
        "label": "class",
        "positive": "1 (good)",
        "class_names": ["bad", "good"],
    }
    return _finish("german", path, x, y, names, sens, encoding, "class")
