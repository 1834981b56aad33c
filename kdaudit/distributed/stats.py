"""``kdaudit stats`` (workers) and ``kdaudit compare --from-stats`` (driver).

A worker reduces each of its shards to a :class:`~kdaudit.analysis.tables.CellTable`
(``stats-i.npz``) plus a sidecar record (``stats-i.json``: row range, sha256 of the
table, models' and data's identity). The driver checks that the sidecars cover
every row exactly once with the same models and data, merges the tables exactly
(integer counts keyed by group names) and runs the very estimators ``compare``
runs, with the same seed, so the report equals the single-process one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit._version import __version__
from kdaudit.analysis.tables import CellTable, expand_table, merge_tables, reduce_rows
from kdaudit.distributed.infer import entry_key, load_adapter_with_manifest, shard_predictions
from kdaudit.distributed.sources import ShardSource
from kdaudit.engine.cache import LogitCache, open_entry_dir
from kdaudit.engine.cache import _atomic_write_bytes as _atomic_write  # one atomic writer
from kdaudit.errors import InputDataError, UsageError
from kdaudit.hashing import file_sha256
from kdaudit.progress import progress_bar
from kdaudit.validation import validate
from kdaudit.vocab import REQUIRED_ROLES, ROLES

__all__ = [
    "ROLES",
    "STATS_SCHEMA",
    "StatsJob",
    "compare_on_ray",
    "load_stats",
    "prepare_stats",
    "report_from_stats",
    "run_stats",
    "stats_name",
]

STATS_SCHEMA = 1


def stats_name(index: int) -> str:
    return f"stats-{index:05d}"


def _sha256(path: Path) -> str:
    return file_sha256(path, role="stats file")  # regular files only, never a FIFO


def _model_info(
    adapter: Any, spec: Any, manifest: dict[str, Any] | None, n_classes: int
) -> dict[str, Any]:
    """The report's ``models.ROLE`` entry, built by the very function ``compare`` uses."""
    from kdaudit.auditing.acquire import model_info

    kind = adapter.logits().kind if adapter.is_logits_file else adapter.output_kind
    return model_info(adapter, spec, manifest, n_classes=n_classes, kind=kind)


def prepare_stats(
    specs: Mapping[str, Sequence[Any]],
    source: ShardSource,
    out_dir: str | Path,
    *,
    cache: LogitCache | None,
    device: str = "auto",
) -> StatsJob:
    """Load every model once and check the job (what one worker or actor holds)."""
    for needed in REQUIRED_ROLES:
        if not specs.get(needed):
            raise UsageError(f"kdaudit stats needs a {needed} model.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; expected a folder for the statistics.")
    loaded: dict[str, list[Any]] = {
        role: [load_adapter_with_manifest(s, device=device) for s in specs[role]]
        for role in ROLES
        if specs.get(role)
    }
    keys: dict[str, list[str | None]] = {}
    for role, runs in loaded.items():
        keys[role] = []
        for adapter, _, _ in runs:
            if adapter.is_logits_file:
                keys[role].append(None)
                continue
            if cache is None:
                raise UsageError(
                    f"The {adapter.name} needs inference; kdaudit stats stores its logits "
                    "in the cache: pass --cache-dir DIR (shared by every worker)."
                )
            key = entry_key(adapter, source)
            open_entry_dir(cache, key)
            keys[role].append(key)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"Cannot create the statistics folder {str(out)!r}: {exc.strerror or exc}."
        ) from exc
    identity = {
        role: [{"path": str(a.path), "sha256": a.sha256} for a, _, _ in runs]
        for role, runs in loaded.items()
    }
    return StatsJob(
        loaded=loaded, keys=keys, identity=identity, source=source, cache=cache, out=out
    )


@dataclasses.dataclass(slots=True, kw_only=True)
class StatsJob:
    loaded: dict[str, list[Any]]
    keys: dict[str, list[str | None]]
    identity: dict[str, Any]
    source: ShardSource
    cache: LogitCache | None
    out: Path

    @property
    def n_models(self) -> int:
        return sum(map(len, self.loaded.values()))

    def shard_rows(self, index: int) -> int:
        return self.source.bounds[index][1] - self.source.bounds[index][0]

    def run_shard(self, index: int, *, batch_size: int | None = None, on_rows: Any = None) -> bool:
        """Write shard ``index``'s table unless a whole one is there; True when computed."""
        if _whole(self.out, index, self.source, self.identity):
            if on_rows is not None:
                on_rows(self.shard_rows(index) * self.n_models)
            return False
        _one_shard(
            self.loaded,
            self.keys,
            self.identity,
            self.source,
            self.cache,
            self.out,
            index,
            batch_size,
            on_rows,
        )
        return True


def run_stats(
    specs: Mapping[str, Sequence[Any]],
    source: ShardSource,
    out_dir: str | Path,
    *,
    cache: LogitCache | None,
    shards: Iterable[int] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = False,
) -> list[int]:
    """Reduce shards (all, or ``shards``) to count tables in ``out_dir``; returns the indices done.

    A shard whose table and sidecar are already there and whole is not recomputed.

    Raises
    ------
    UsageError
        No teacher or student; a model needs inference and no cache was given.
    InputDataError
        Class counts disagree; labels out of range; bad model outputs.
    """
    job = prepare_stats(specs, source, out_dir, cache=cache, device=device)
    indices = list(range(source.n_shards)) if shards is None else list(shards)
    total = sum(job.shard_rows(i) for i in indices) * job.n_models
    with progress_bar(total, desc="stats", enabled=progress) as bar:
        for i in indices:
            job.run_shard(i, batch_size=batch_size, on_rows=bar.update)
    return indices


def _whole(out: Path, index: int, source: ShardSource, identity: dict[str, Any]) -> bool:
    side = out / f"{stats_name(index)}.json"
    try:
        rec = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if (
        not isinstance(rec, dict)
        or rec.get("start") != source.bounds[index][0]
        or rec.get("stop") != source.bounds[index][1]
        or rec.get("n_shards") != source.n_shards
        or rec.get("identity") != identity
        or rec.get("data_fingerprint") != source.fingerprint()
    ):
        return False
    try:
        return _sha256(out / rec["file"]) == rec.get("sha256")
    except (OSError, KeyError, TypeError, InputDataError):  # missing or not a regular file
        return False


def _one_shard(
    loaded: Mapping[str, list[Any]],
    keys: Mapping[str, list[str | None]],
    identity: dict[str, Any],
    source: ShardSource,
    cache: LogitCache | None,
    out: Path,
    index: int,
    batch_size: int | None,
    on_rows: Any,
) -> None:
    preds: dict[str, list[np.ndarray]] = {}
    classes: dict[str, int] = {}
    for role, runs in loaded.items():
        for r, (adapter, _, _) in enumerate(runs):
            p, c = shard_predictions(
                adapter, source, cache, keys[role][r], index, batch_size=batch_size, on_rows=on_rows
            )
            preds.setdefault(role, []).append(p)
            classes[f"{role} run {r}"] = c
    if len(set(classes.values())) > 1:
        desc = ", ".join(f"{k}: {v}" for k, v in classes.items())
        raise InputDataError(
            f"Expected every model to output the same number of classes; got {desc}.",
            tip="Check that all models were trained on the same label set.",
        )
    n_classes = next(iter(classes.values()))
    if n_classes < 2:
        raise InputDataError(  # pragma: no cover - the logits adapter refuses n_classes < 2
            f"Models output {n_classes} class; need at least 2."
        )
    ds, lo, hi = source.shard(index)
    y = ds.y_true[lo:hi]
    if y.size and int(y.max()) >= n_classes:
        raise InputDataError(
            f"Labels in {source.path!r} go up to {int(y.max())} but the models output {n_classes} classes.",
            tip="Labels must be 0..n_classes-1, in the models' class order.",
        )
    table = reduce_rows(
        y,
        preds,
        n_classes=n_classes,
        sensitive_features={k: v[lo:hi] for k, v in ds.sensitive_features.items()},
        split=None if ds.split is None else ds.split[lo:hi],
    )
    buf = io.BytesIO()
    np.savez(buf, **table.to_arrays())  # type: ignore[arg-type]
    name = f"{stats_name(index)}.npz"
    _atomic_write(out / name, buf.getvalue())
    record = {
        "kdaudit_stats": STATS_SCHEMA,
        "kdaudit_version": __version__,
        "index": index,
        "n_shards": source.n_shards,
        "start": source.bounds[index][0],
        "stop": source.bounds[index][1],
        "rows": int(table.n_samples),
        "file": name,
        "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        "n_classes": n_classes,
        "columns": list(table.columns),
        "identity": identity,
        "data_fingerprint": source.fingerprint(),
        "models": {
            role: [_model_info(a, s, m, n_classes) for a, s, m in runs]
            for role, runs in loaded.items()
        },
        "data": source.describe(ds),
        "class_names": (
            None
            if ds.extras.get("class_names") is None
            else [str(c) for c in ds.extras["class_names"]]
        ),
    }
    _atomic_write(
        out / f"{stats_name(index)}.json", json.dumps(record, indent=1, sort_keys=True).encode()
    )


# --------------------------------------------------------------------------- driver


def load_stats(stats_dir: str | Path) -> tuple[CellTable, dict[str, Any]]:
    """Check the sidecars of a statistics folder and merge its tables.

    Returns
    -------
    (CellTable, dict)
        The merged table, and ``{"models", "data", "n_classes", "n_shards"}``.

    Raises
    ------
    InputDataError
        No statistics; missing, overlapping or damaged shards; shards from other
        models or data. The message names the shards to (re)compute.
    """
    d = Path(stats_dir)
    if not d.is_dir():
        raise InputDataError(
            f"Statistics folder {str(d)!r} does not exist.",
            tip="Write it with kdaudit stats ... --out DIR.",
        )
    records = []
    for side in sorted(d.glob("stats-*.json")):
        try:
            rec = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputDataError(
                f"Statistics record {str(side)!r} is unreadable: {exc}.",
                tip="Delete it and rerun kdaudit stats for that shard.",
            ) from exc
        if not isinstance(rec, dict) or rec.get("kdaudit_stats") != STATS_SCHEMA:
            raise InputDataError(f"{str(side)!r} is not a kdaudit statistics record (schema 1).")
        # every key the merge reads, with its type; the table is named, never a path
        validate(rec, "stats_record", repr(str(side)), error=InputDataError)
        if rec["file"] != f"{stats_name(int(rec['index']))}.npz":
            raise InputDataError(
                f"{str(side)!r} names table {rec['file']!r}; shard {rec['index']}'s table is "
                f"{stats_name(int(rec['index']))}.npz beside it.",
                tip="Rerun kdaudit stats for that shard.",
            )
        records.append(rec)
    if not records:
        raise InputDataError(
            f"No statistics (stats-*.json) in {str(d)!r}.",
            tip="Write them with kdaudit stats TEACHER STUDENT --data DATA --out DIR.",
        )
    first = records[0]
    n_shards = int(first["n_shards"])
    for key in ("n_shards", "identity", "data_fingerprint", "n_classes", "columns"):
        for rec in records[1:]:
            if rec.get(key) != first.get(key):
                raise InputDataError(
                    f"The statistics in {str(d)!r} come from different runs: shard {rec.get('index')} and "
                    f"shard {first.get('index')} disagree on {key}.",
                    tip="Use one folder per audit (same models, data and --shards N).",
                )
    by_index = {int(r["index"]): r for r in records}
    missing = sorted(set(range(n_shards)) - set(by_index))
    if missing:
        raise InputDataError(
            f"{len(missing)} of {n_shards} shards have no statistics in {str(d)!r}: {_ranges(missing)}.",
            tip=f"Run kdaudit stats ... --shards I-J/{n_shards} for them (finished shards are kept).",
        )
    position = 0
    tables = []
    for i in range(n_shards):
        rec = by_index[i]
        if (
            rec["start"] != position
            or rec["stop"] < rec["start"]
            or rec["rows"] != rec["stop"] - rec["start"]
        ):
            raise InputDataError(
                f"Shard {i} in {str(d)!r} covers rows {rec['start']}..{rec['stop']}; "
                f"expected it to start at row {position}."
            )
        position = rec["stop"]
        path = d / rec["file"]
        try:
            if _sha256(path) != rec["sha256"]:
                raise ValueError("sha256 mismatch")
            with np.load(path, allow_pickle=False) as npz:
                table = CellTable.from_arrays({k: npz[k] for k in npz.files})
        except (OSError, ValueError, KeyError, InputDataError) as exc:
            raise InputDataError(
                f"Statistics of shard {i} ({str(path)!r}) are damaged: {exc}.",
                tip=f"Delete {stats_name(i)}.* and rerun kdaudit stats --shards {i}/{n_shards}.",
            ) from exc
        if table.n_samples != rec["rows"]:
            raise InputDataError(
                f"Shard {i} counts {table.n_samples} rows; its record says {rec['rows']}."
            )
        tables.append(table)
    meta = {
        "models": first["models"],
        "data": {**first["data"], "n_samples": position},
        "n_classes": int(first["n_classes"]),
        "n_shards": n_shards,
        "class_names": first.get("class_names"),
    }
    return merge_tables(tables), meta


def _ranges(ix: list[int]) -> str:
    out, start = [], ix[0]
    for a, b in zip(ix, [*ix[1:], -1], strict=True):
        if b != a + 1:
            out.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out)


def report_from_stats(
    stats_dir: str | Path,
    *,
    options: Any = None,
    policy: Any = None,
    command_line: Sequence[str] | None = None,
    sensitive: Sequence[str] | None = None,
) -> Any:
    """The audit report from a statistics folder (``kdaudit compare --from-stats``).

    ``sensitive``, when given, must name attributes the statistics hold (they were fixed
    when ``kdaudit stats`` ran); it is checked, never a silent no-op.

    Uses the estimators of :func:`kdaudit.auditing.run.run_audit` on the merged counts, with
    the same options and seed, so the report equals the single-process one
    (individual fairness needs the rows themselves and is reported as skipped).
    """
    from kdaudit import api
    from kdaudit._clock import utc_now
    from kdaudit.auditing.checks import _check_groups
    from kdaudit.auditing.options import AuditOptions
    from kdaudit.data.dataset import Dataset

    options = options or AuditOptions()
    if options.counterfactual or options.embedding or options.counterfactual_terms is not None:
        raise UsageError(
            "--counterfactual, --counterfactual-terms and --embedding need the rows; "
            "compare --from-stats works from merged counts. Run compare on the data instead."
        )
    table, meta = load_stats(stats_dir)
    held = list(meta["data"].get("sensitive") or [])
    unknown = [a for a in (sensitive or []) if a not in held]
    if unknown:
        raise UsageError(
            f"--sensitive {','.join(unknown)}: the statistics in {str(stats_dir)!r} hold "
            f"{', '.join(held) or 'no sensitive attribute'}; attributes are fixed when "
            "kdaudit stats runs.",
            tip="Rerun kdaudit stats with --sensitive, or drop the flag.",
        )
    started = utc_now()
    rows = expand_table(table)
    data = meta["data"]
    extras = {} if meta.get("class_names") is None else {"class_names": list(meta["class_names"])}
    dataset = Dataset(
        y_true=rows.y_true,
        x=None,
        sensitive_features=rows.sensitive_features,
        split=rows.split,
        path=data.get("path", ""),
        sha256=data.get("sha256", ""),
        fingerprint=data.get("fingerprint", ""),
        label=data.get("label", "y"),
        extras=extras,
    )
    _check_groups(dataset, options)
    skipped = {}
    if data.get("has_inputs"):
        skipped["individual_fairness"] = (
            "compare --from-stats works from merged counts; individual fairness needs the rows "
            "(run compare on the data for it)"
        )
    preds = rows.predictions
    # the same assembly as compare: the expanded rows hold every count the analyses read
    return api.assemble_report(
        dataset,
        preds,
        preds,
        meta["models"],
        meta["n_classes"],
        options,
        started=started,
        data_block=data,
        skipped=skipped,
        command_line=command_line,
        policy=policy,
        row_logits=False,
    )


def compare_on_ray(
    specs: Mapping[str, Sequence[Any]],
    data: str,
    runner: Any,
    *,
    options: Any,
    policy: Any = None,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    command_line: Sequence[str] | None = None,
) -> Any:
    """``kdaudit compare ... --ray``: per-shard counts on Ray, then the merged report.

    The tables go to ``<cache dir>/stats/<hash of models, data and layout>`` (the cache
    folder is the storage every node shares), so a rerun resumes there.
    """
    from kdaudit.distributed.sources import open_source
    from kdaudit.engine.cache import LogitCache, default_cache_dir

    if not options.use_cache:
        raise UsageError(
            "--ray needs the cache folder as storage shared by the workers; drop --no-cache."
        )
    source = open_source(data, label=label, sensitive=sensitive, features=features)
    cache = LogitCache(options.cache_dir or default_cache_dir())
    job_id = hashlib.sha256(
        json.dumps(
            {
                "models": {
                    r: [(str(s.path), s.format, s.arch, s.outputs) for s in v]
                    for r, v in specs.items()
                },
                "data": source.fingerprint(),
                "layout": source.layout_sha256(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    out = cache.root / "stats" / job_id[:32]
    runner.stats(
        specs, source, out, cache=cache, device=options.device, batch_size=options.batch_size
    )
    return report_from_stats(out, options=options, policy=policy, command_line=command_line)
