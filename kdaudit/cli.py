"""The command line: the only module that reads argv, prints, or exits.

``main(argv) -> int`` never raises SystemExit, so tests call it directly;
``entrypoint()`` is the console script. Exception families map to exit codes
in :func:`main` alone (INTERFACE.md "Exit codes").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tomllib
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from kdaudit._optional import missing_dependency
from kdaudit._version import __version__
from kdaudit.errors import AuditError, CacheError, KDAuditError, KDAuditWarning, UsageError
from kdaudit.vocab import (
    ANALYSES,
    CORRECTIONS,
    DEVICES,
    DISTANCES,
    OUTPUT_KINDS,
    REQUIRED_ROLES,
    ROLES,
)

__all__ = [
    "COMMANDS",
    "EXIT_CODES",
    "ISSUES_URL",
    "build_parser",
    "entrypoint",
    "main",
]

ISSUES_URL = "the kdaudit issue tracker"

#: INTERFACE.md "Exit codes" (shown in ``kdaudit --help``); 130 is Ctrl-C, as for any tool.
EXIT_CODES: dict[int, str] = {
    0: "audit done; gate passed or no gate",
    1: "audit done; gate failed",
    2: "usage or input error (bad flag, missing file, shape or class mismatch, bad data)",
    3: "could not audit (model would not load or run, cache unusable)",
    4: "internal error (a bug: one line saying so; the traceback with --verbose)",
    130: "interrupted (Ctrl-C)",
}

_EPILOG = (
    "exit codes:\n"
    + "".join(f"  {code:<4} {meaning}\n" for code, meaning in EXIT_CODES.items())
    + "\nerrors go to stderr as one line 'kdaudit: error: ...' (and a 'tip: ...' line).\n"
    "\nexamples:\n"
    "  kdaudit compare teacher.onnx student.onnx --baseline baseline.onnx \\\n"
    "      --data eval.npz --sensitive sex,race --policy default --junit gate.xml\n"
    "  kdaudit audit audit.toml --out kdaudit-report\n"
    "  kdaudit gate kdaudit-report/report.json --policy strict\n"
    "  kdaudit demo --tabular\n"
    "\n'kdaudit COMMAND --help' describes each command; -q/-v go before or after COMMAND."
)


def _describe(text: str) -> str:
    """A subcommand's description, wrapped once here (the raw formatter keeps line breaks)."""
    import textwrap

    return textwrap.fill(text, width=79)


def _example(*lines: str) -> str:
    return "example:\n" + "".join(f"  {line}\n" for line in lines)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help; descriptions and epilogs keep their line breaks.

    A default that says nothing (None, False, a list the help already spells out) or one the
    help already states in words is not repeated.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default is None or default is False or isinstance(default, (list, tuple, frozenset)):
            return text
        if "default" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (in '{self.prog}')", tip=f"run '{self.prog} --help' for usage")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _inline_table(text: str) -> dict[str, Any]:
    """Parse ``scale = 0.0039, reshape = [1, 28, 28]`` (a TOML inline table body) or JSON."""
    text = text.strip()
    try:
        if text.startswith("{") and '"' in text:
            value = json.loads(text)
        else:
            body = text[1:-1] if text.startswith("{") else text
            value = tomllib.loads(f"p = {{{body}}}")["p"]
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise argparse.ArgumentTypeError(
            f"expected a preprocessing spec like 'scale = 0.0039, reshape = [1, 28, 28]'; {exc}"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a table of preprocessing options")
    return value


def _name_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name.strip(), path.strip()


def _global_options(*, on_subcommand: bool) -> _Parser:
    """-q/-v, defined once and given to the top parser and every subcommand (``parents=``).

    On a subcommand their defaults are suppressed: argparse copies a subcommand's whole
    namespace over the top one, so a default there would undo ``kdaudit -q COMMAND``.
    """
    default: Any = argparse.SUPPRESS if on_subcommand else False
    p = _Parser(add_help=False)
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bars, warnings or summary lines ('wrote ...', the verdict); errors "
        "and asked-for output (schema, cache ls) still print",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="a traceback with each error, and other libraries' warnings",
    )
    return p


def _device_option(p: Any, *, default: str | None) -> None:
    """--device: the same choices on every command (kdaudit.vocab.DEVICES)."""
    p.add_argument(
        "--device",
        type=str.lower,
        choices=DEVICES,
        default=default,
        help="where models run; auto takes CUDA when a device is visible, else the CPU",
    )


def _say(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Result lines ('wrote ...') on stdout; None with --quiet."""
    if args.quiet:
        return None
    return lambda line: print(line, flush=True)


def _note(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Progress lines on stderr; None with --quiet."""
    if args.quiet:
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)


def _analysis_options(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    d = (lambda v: v) if defaults else (lambda v: None)
    g = p.add_argument_group("statistics")
    g.add_argument("--seed", type=int, default=d(0), help="seed for bootstraps")
    g.add_argument(
        "--bootstrap",
        type=int,
        default=d(1000),
        metavar="B",
        help="bootstrap replicates for CIs; 0: none",
    )
    g.add_argument("--alpha", type=float, default=d(0.05), help="significance level")
    g.add_argument(
        "--correction",
        choices=CORRECTIONS,
        default=d("fdr_bh"),
        help="multiple-comparison correction for class shift",
    )
    g.add_argument(
        "--skip",
        type=_csv,
        default=d([]),
        metavar="ANALYSES",
        help=f"comma list of analyses to leave out, of: {', '.join(ANALYSES)}",
    )
    g.add_argument(
        "--intersectional",
        action="store_true",
        default=d(False),
        help="also audit the combination of all sensitive attributes",
    )
    g.add_argument(
        "--min-group-size", type=int, default=d(30), metavar="N", help="flag smaller groups"
    )
    g.add_argument(
        "--max-groups",
        type=_positive_int,
        default=None,
        metavar="N",
        help="refuse a sensitive attribute with more groups (default 1000; an id column "
        "given as an attribute is a mistake)",
    )
    g.add_argument(
        "--positive-label",
        type=int,
        default=None,
        metavar="CLASS",
        help="binary group fairness for this class (multi-class: one-vs-rest by default)",
    )
    g.add_argument(
        "--knn-k",
        type=_positive_int,
        default=d(5),
        metavar="K",
        help="neighbours for individual fairness",
    )
    g.add_argument(
        "--anchors",
        type=int,
        default=None,
        metavar="N",
        help="individual fairness over ~N hash-drawn anchor rows (0: exact, all rows; "
        "default: exact below 1,000,000 rows, 100,000 anchors above)",
    )
    g.add_argument(
        "--distance",
        choices=DISTANCES,
        default=d("auto"),
        help="neighbour distance; auto: cosine for text and embeddings, euclidean otherwise",
    )
    g.add_argument(
        "--embedding-model",
        choices=ROLES,
        help="text: neighbours in this model's pooled hidden state",
    )
    g.add_argument(
        "--counterfactual-terms",
        metavar="FILE|builtin",
        help="text: swap identity terms (pairs per line, 'a,b'; or 'builtin') and compare "
        "each model's outputs on the swapped texts",
    )
    g.add_argument("--embedding", metavar="FILE.npy", help="representation space for neighbours")
    g.add_argument(
        "--counterfactual",
        metavar="FILE.npz",
        help="counterfactual inputs x' (same rows), e.g. a sensitive attribute flipped",
    )
    e = p.add_argument_group("engine")
    _device_option(e, default=d("auto"))
    e.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="rows per inference batch (default: about 32 MiB of input, at most 1024 rows)",
    )
    e.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="logit cache (default $KDAUDIT_CACHE_DIR, else the user cache dir: $XDG_CACHE_HOME/kdaudit, ~/.cache/kdaudit)",
    )
    e.add_argument(
        "--no-cache",
        action="store_true",
        default=d(False),
        help="do not read or write the logit cache",
    )
    e.add_argument(
        "--trust-code",
        action="store_true",
        default=d(False),
        help="allow model formats that execute code (TorchScript, pickles, module:callable)",
    )
    o = p.add_argument_group("outputs")
    o.add_argument(
        "--out",
        metavar="DIR",
        default="kdaudit-report",
        help="report folder (report.html, report.json, summary.md)",
    )
    o.add_argument(
        "--policy", metavar="FILE", help="release gate policy (TOML, or 'default' / 'strict')"
    )
    o.add_argument("--junit", metavar="FILE", help="write the gate's checks as JUnit XML")
    o.add_argument(
        "--report-format",
        dest="formats",
        type=_csv,
        default=["json", "html", "md"],
        metavar="FORMATS",
        help="report formats: json,html,md,modelcard,csv (default json,html,md; csv: "
        "one tidy table per result in DIR/csv/)",
    )
    o.add_argument(
        "--export-rows",
        metavar="FILE.parquet",
        help="write one row per sample (label, each model's prediction and confidence, "
        "groups, changed teacher -> student) as Parquet (or .csv)",
    )
    g.add_argument(
        "--class-names",
        type=_csv,
        default=None,
        metavar="NAME[,NAME...]",
        help="class names in the models' class order (default: from the data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kdaudit",
        description="Audit distilled models for fairness and bias.",
        epilog=_EPILOG,
        parents=[_global_options(on_subcommand=False)],
    )
    parser.add_argument("--version", action="version", version=f"kdaudit {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, help="what to do"
    )
    sub.required = True
    common = [_global_options(on_subcommand=True)]

    c = sub.add_parser(
        "compare",
        help="audit a teacher, a distilled student and a baseline",
        description=_describe(
            "Audit a teacher, a distilled student and (optionally) a non-distilled "
            "baseline on one data set; write report.html, report.json and summary.md."
        ),
        epilog=_example(
            "kdaudit compare teacher.onnx student.onnx --baseline baseline.onnx \\",
            "    --data eval.npz --sensitive sex --policy default --out report",
            "kdaudit compare --from-stats stats --out report   # after 'kdaudit stats'",
        ),
        parents=common,
    )
    c.add_argument("teacher", nargs="?", help="teacher model file (not with --from-stats)")
    c.add_argument("student", nargs="?", help="distilled student model file")
    c.add_argument(
        "--baseline",
        metavar="MODEL",
        help="non-distilled student (same architecture, hard labels)",
    )
    c.add_argument(
        "--from-stats",
        metavar="STATS_DIR",
        help="build the report from merged per-shard counts written by kdaudit stats",
    )
    c.add_argument(
        "--ray",
        metavar="ADDRESS|auto",
        help="compute per-shard counts on a Ray cluster (tables under --cache-dir), then merge",
    )
    c.add_argument(
        "--data", help=".npz, .csv, .parquet, or a built-in (tabular, trifeature, adult:PATH)"
    )
    c.add_argument("--label", metavar="COL", help="label column (tables)")
    c.add_argument(
        "--sensitive",
        type=_csv,
        default=None,
        metavar="COL[,COL...]",
        help="sensitive attributes: table columns, or sensitive_<name> arrays of an .npz "
        "(default: every sensitive_* array)",
    )
    c.add_argument(
        "--features",
        type=_csv,
        default=None,
        metavar="COL[,COL...]",
        help="feature columns of a table (default: all other numeric columns)",
    )
    c.add_argument(
        "--text-column",
        metavar="COL",
        help="the column of texts (CSV, Parquet, JSONL); each text model tokenizes it itself",
    )
    c.add_argument(
        "--max-length",
        type=_positive_int,
        metavar="N",
        help="text models: longest token sequence (default from each model's config)",
    )
    c.add_argument(
        "--sensitive-file",
        action="append",
        type=_name_path,
        default=[],
        metavar="NAME=PATH",
        help="a sensitive attribute from its own file of group labels (.npy/.csv), one row "
        "per data row; repeatable",
    )
    c.add_argument(
        "--arch",
        metavar="NAME|module:callable",
        help="architecture for state_dict/safetensors models (all roles)",
    )
    c.add_argument(
        "--format",
        dest="model_format",
        metavar="FORMAT",
        help="model format, overriding the file extension: onnx, state_dict, safetensors, "
        "torchscript, torch_export, pickle, logits",
    )
    c.add_argument(
        "--outputs",
        choices=OUTPUT_KINDS,
        default="auto",
        help="what the models output; auto treats rows that are non-negative and sum to 1 "
        "as probabilities",
    )
    for role in ROLES:
        c.add_argument(
            f"--{role}-arch",
            metavar="NAME|module:callable",
            help=f"architecture of the {role} (overrides --arch)",
        )
        c.add_argument(
            f"--{role}-preprocess",
            type=_inline_table,
            metavar="SPEC",
            help=f"preprocessing of the {role}'s inputs, e.g. 'scale = 0.0039, reshape = [1, 28, 28]'",
        )
        c.add_argument(
            f"--{role}-outputs",
            choices=OUTPUT_KINDS,
            help=f"what the {role} outputs (overrides --outputs)",
        )
        c.add_argument(
            f"--{role}-tokenizer",
            metavar="PATH",
            help=f"tokenizer.json (or its folder) of the {role} (default: beside the model)",
        )
        c.add_argument(
            f"--{role}-max-length",
            type=_positive_int,
            metavar="N",
            help=f"longest token sequence for the {role}",
        )
    _analysis_options(c, defaults=True)

    _add_shard_commands(sub, common)

    a = sub.add_parser(
        "audit",
        help="run the audit a TOML config describes",
        description=_describe(
            "Run the audit a TOML config describes (models, runs, preprocessing, "
            "data; docs/config.md). Statistics and engine options given here override the "
            "config's [analysis] values; those not given come from the config, else kdaudit's "
            "defaults (as in 'kdaudit compare --help')."
        ),
        epilog=_example("kdaudit audit audit.toml --out report --policy strict"),
        parents=common,
    )
    a.add_argument("config", help="the audit config (CONFIG.toml)")
    _analysis_options(a, defaults=False)

    g = sub.add_parser(
        "gate",
        help="re-judge a finished report.json with a policy",
        description=_describe(
            "Judge a finished report.json against a release-gate policy; exit 1 "
            "when the gate fails."
        ),
        epilog=_example("kdaudit gate kdaudit-report/report.json --policy strict --junit gate.xml"),
        parents=common,
    )
    g.add_argument("report", help="report.json written by compare or audit")
    g.add_argument(
        "--policy", required=True, metavar="FILE", help="policy TOML, or 'default' / 'strict'"
    )
    g.add_argument("--junit", metavar="FILE", help="write the gate's checks as JUnit XML")
    g.add_argument("--write", action="store_true", help="store the verdict back into the report")

    d = sub.add_parser(
        "demo",
        help="the main job on built-in data, offline",
        description=_describe(
            "Train a teacher, baselines and distilled students on built-in data, "
            "then audit them as a user's models would be (offline; needs the 'train' extra)."
        ),
        epilog=_example("kdaudit demo --tabular --out kdaudit-demo"),
        parents=common,
    )
    d.add_argument("--out", default="kdaudit-demo", metavar="DIR", help="report folder")
    d.add_argument(
        "--tabular",
        action="store_true",
        help="the small tabular demo instead of the Trifeature study",
    )
    d.add_argument(
        "--text",
        action="store_true",
        help="the text demo: tiny BERT teacher, DistilBERT baseline and students (docs/text.md)",
    )
    d.add_argument("--small", action="store_true", help="a quick, smaller run (for tests)")
    d.add_argument("--seed", type=int, default=0, help="first seed (run r uses seed + r)")
    _device_option(d, default="auto")
    d.add_argument(
        "--update-docs",
        metavar="FILE.md",
        help="rewrite the generated block of this file (docs/reproduction.md) from the report",
    )

    k = sub.add_parser(
        "cache",
        help="inspect or clear the logit cache",
        epilog=_example("kdaudit cache ls --cache-dir ~/.cache/kdaudit"),
        parents=common,
    )
    k.add_argument(
        "action",
        choices=("ls", "clear", "verify"),
        help="ls: list entries; clear: remove them; verify: re-hash every shard, drop bad ones",
    )
    k.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="the cache (default $KDAUDIT_CACHE_DIR, else the user cache dir: "
        "$XDG_CACHE_HOME/kdaudit, ~/.cache/kdaudit)",
    )

    sub.add_parser(
        "schema",
        help="print the JSON Schema of report.json",
        epilog=_example("kdaudit schema > report.schema.json"),
        parents=common,
    )

    try:
        from kdaudit.train.cli import add_data_arguments, add_train_arguments
    except ImportError:  # pragma: no cover - trainer not installed
        pass
    else:
        t = sub.add_parser(
            "train",
            help="train teachers, baselines and distilled students",
            description=_describe(
                "Train a teacher, a baseline (hard labels) or distilled students "
                "(one per temperature and seed); each is written as ONNX, safetensors and a "
                "manifest (needs the 'train' extra)."
            ),
            epilog=_example(
                "kdaudit train --role teacher --out models",
                "kdaudit train --role student --teacher models/teacher_seed0.onnx \\",
                "    --temperature 1,4,8 --seeds 0,1,2 --out models",
            ),
            parents=common,
        )
        add_train_arguments(t)
        dd = sub.add_parser(
            "data",
            help="write a built-in dataset to a file",
            epilog=_example("kdaudit data trifeature --out eval.npz --n 2000"),
            parents=common,
        )
        add_data_arguments(dd)
    return parser


# --------------------------------------------------------------------------- commands


def _options_from_args(args: argparse.Namespace, *, only_given: bool) -> dict[str, Any]:
    mapping = {
        "alpha": args.alpha,
        "correction": args.correction,
        "bootstrap": args.bootstrap,
        "seed": args.seed,
        "min_group_size": args.min_group_size,
        "max_groups": args.max_groups,
        "positive_label": args.positive_label,
        "intersectional": args.intersectional or None,
        "knn_k": args.knn_k,
        "anchors": args.anchors,
        "distance": args.distance,
        "embedding": args.embedding,
        "counterfactual": args.counterfactual,
        "device": args.device,
        "embedding_model": args.embedding_model,
        "counterfactual_terms": args.counterfactual_terms,
        "batch_size": args.batch_size,
        "cache_dir": args.cache_dir,
        "use_cache": (False if args.no_cache else None),
        "skip": frozenset(args.skip) if args.skip else None,
        "trust_code": args.trust_code or None,
        "class_names": tuple(args.class_names) if args.class_names else None,
    }
    opts = {k: v for k, v in mapping.items() if v is not None}
    if not only_given:
        opts.setdefault("skip", frozenset())
    opts["progress"] = _show_progress(args)
    return opts


def _show_progress(args: argparse.Namespace) -> bool:
    from kdaudit.progress import progress_enabled

    return progress_enabled(not args.quiet)


def _check_out_dir(out: str, args: argparse.Namespace | None = None) -> None:
    """Probe --out (and --export-rows) before any work: a file in the way (2), not writable (3)."""
    from kdaudit.safety import probe_output_dir

    if args is not None and getattr(args, "export_rows", None):
        from kdaudit.export import check_rows_path

        check_rows_path(args.export_rows)
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise UsageError(
            f"Output path {out!r} is a file; expected a folder for the report.",
            tip="Choose another --out or remove the file.",
        )
    probe_output_dir(out)


def _load_policy_early(args: argparse.Namespace, *, config_has_gate: bool = False) -> Any:
    """Check output and gate options before any inference, so a typo costs no audit."""
    from kdaudit.safety import probe_output_file

    if args.junit and not args.policy and not config_has_gate:
        raise UsageError(
            "--junit needs a gate policy (--policy, or [gate] in the config): "
            "there are no checks to write."
        )
    if args.junit:
        probe_output_file(args.junit, what="JUnit file (--junit)")
    if not args.policy:
        return None  # kdaudit.gate is not imported by an audit without a gate
    from kdaudit.gate import load_policy

    return load_policy(args.policy)


@contextlib.contextmanager
def _writing(where: str) -> Iterator[None]:
    """A failure while writing outputs is exit 3 naming the path (earlier files stay intact)."""
    try:
        yield
    except OSError as exc:
        path = exc.filename or where
        raise AuditError(
            f"Could not write {str(path)!r}: {exc.strerror or exc}.",
            tip="Check free space and permissions; the previous report is unchanged.",
        ) from exc


def _finish(report: Any, args: argparse.Namespace) -> int:
    if args.junit and report.gate is not None:  # before the report: a failure leaves neither
        from kdaudit.report.junit import write_junit

        with _writing(args.junit):
            write_junit(report.gate, Path(args.junit))
    if args.export_rows:
        with _writing(args.export_rows):
            rows_path = report.export_rows(args.export_rows)
        if not args.quiet:
            print(f"wrote rows: {rows_path}")
    with _writing(args.out):
        paths = report.write(args.out, formats=args.formats)
    if not args.quiet:
        for kind, path in paths.items():
            print(f"wrote {kind}: {path}")
        if report.gate is not None:
            from kdaudit.report.words import verdict_line

            print(verdict_line(report.gate))
    return 1 if report.release_ok is False else 0  # None: no gate


def _cmd_compare(args: argparse.Namespace) -> int:
    from kdaudit import api
    from kdaudit.models.preprocess import Preprocess

    _check_out_dir(args.out, args)
    if args.from_stats:
        return _cmd_compare_from_stats(args)
    missing = [n for n in REQUIRED_ROLES if not getattr(args, n)]
    if missing or not args.data:
        what = ", ".join(missing + ([] if args.data else ["--data"]))
        raise UsageError(
            f"the following arguments are required: {what} (in 'kdaudit compare')",
            tip="run 'kdaudit compare --help' for usage",
        )
    defaults: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        d: dict[str, Any] = {"outputs": getattr(args, f"{role}_outputs") or args.outputs}
        arch = getattr(args, f"{role}_arch") or args.arch
        if arch:
            d["arch"] = arch
        if args.model_format:
            d["format"] = args.model_format
        pre = getattr(args, f"{role}_preprocess")
        if pre:
            d["preprocess"] = Preprocess.from_dict(pre)
        if getattr(args, f"{role}_tokenizer"):
            d["tokenizer"] = getattr(args, f"{role}_tokenizer")
        if getattr(args, f"{role}_max_length") or args.max_length:
            d["max_length"] = getattr(args, f"{role}_max_length") or args.max_length
        defaults[role] = d
    options = api.AuditOptions(**_options_from_args(args, only_given=False))
    policy = _load_policy_early(args)
    if args.ray:
        from kdaudit.distributed.stats import compare_on_ray

        specs = {
            role: api.as_specs(path, role, {**defaults[role], "trust_code": args.trust_code})
            for role, path in (
                ("teacher", args.teacher),
                ("student", args.student),
                ("baseline", args.baseline),
            )
            if path
        }
        report = compare_on_ray(
            specs,
            args.data,
            _ray_or_none(args),
            options=options,
            policy=policy,
            label=args.label,
            sensitive=args.sensitive,
            features=args.features,
            command_line=["kdaudit", *args.argv],
        )
        return _finish(report, args)
    report = api.compare(
        args.teacher,
        args.student,
        baseline=args.baseline,
        data=args.data,
        label=args.label,
        sensitive=args.sensitive,
        features=args.features,
        options=options,
        text_column=args.text_column,
        sensitive_files=dict(args.sensitive_file),
        model_defaults=defaults,
        policy=policy,
        command_line=["kdaudit", *args.argv],
    )
    return _finish(report, args)


def _cmd_audit(args: argparse.Namespace) -> int:
    from kdaudit import api

    _check_out_dir(args.out, args)
    overrides = _options_from_args(args, only_given=True)
    policy = _load_policy_early(
        args, config_has_gate=bool(api.load_config(args.config).get("gate"))
    )
    report = api.audit(args.config, overrides=overrides, command_line=["kdaudit", *args.argv])
    if policy is not None:
        report = report.apply_policy(policy)
    return _finish(report, args)


def _cmd_gate(args: argparse.Namespace) -> int:
    from kdaudit.auditresult import AuditResult
    from kdaudit.gate import load_policy
    from kdaudit.governance import judge_result
    from kdaudit.report import read_report
    from kdaudit.report.junit import write_junit
    from kdaudit.safety import probe_output_dir, probe_output_file

    path = Path(args.report)
    report = AuditResult.from_dict(read_report(path))
    policy = load_policy(args.policy)
    if args.junit:
        probe_output_file(args.junit, what="JUnit file (--junit)")
    if args.write:
        probe_output_dir(path.parent, what="report folder")
    judged = judge_result(report, policy)
    gate = judged.gate
    assert gate is not None
    if args.junit:
        with _writing(args.junit):
            write_junit(gate, Path(args.junit))
    if args.write:
        from kdaudit.report import write_report

        present = [
            f
            for f, name in (("html", "report.html"), ("md", "summary.md"))
            if (path.parent / name).exists()
        ]
        with _writing(str(path.parent)):
            write_report(judged, path.parent, formats=("json", *present))
    if not args.quiet:
        from kdaudit.report.words import gate_lines

        print("\n".join(gate_lines(gate)))
    return 0 if gate.lets_release else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from kdaudit.demo import run_demo

    _check_out_dir(args.out)
    report_paths = run_demo(
        Path(args.out),
        tabular=args.tabular,
        small=args.small,
        seed=args.seed,
        device=args.device,
        quiet=args.quiet,
        progress=_show_progress(args),
        update_docs=Path(args.update_docs) if args.update_docs else None,
        **({"text": True} if getattr(args, "text", False) else {}),
        say=_note(args),
    )
    if not args.quiet:
        for kind, path in report_paths.items():
            print(f"wrote {kind}: {path}")
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from kdaudit.engine.cache import LogitCache, default_cache_dir

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if root.exists() and not root.is_dir():
        raise UsageError(
            f"The cache folder {str(root)!r} is a file; expected a folder.",
            tip="Point --cache-dir at a folder (it is created on first use).",
        )
    cache = LogitCache(root)
    if args.action == "ls":
        entries = cache.entries()
        for e in entries:

            def show(key: str, e: dict[str, Any] = e) -> str:
                return "?" if e.get(key) is None else str(e[key])

            problem = f" {e['problem']}" if e.get("problem") else ""
            print(
                f"{show('key')[:16]}  {show('rows'):>9} rows  {show('n_classes'):>5} classes  "
                f"{e.get('model_path') or ''}  [{show('status')}{problem}]"
            )
        if not args.quiet:
            print(f"{len(entries)} entries in {cache.root}")
    elif args.action == "verify":
        problems = cache.verify()
        for line in problems:
            print(line)
        if problems:  # exit 3 (the cache is not usable as it is) so a CI step can catch it
            raise CacheError(
                f"cache verify found {len(problems)} problem(s) in {str(cache.root)!r} "
                "(listed above).",
                tip="The next audit recomputes bad shards; 'kdaudit cache clear' "
                "removes kdaudit's entries.",
            )
        if not args.quiet:
            print(f"verified {cache.root}: no problems")
    else:
        n = cache.clear()
        if not args.quiet:
            print(f"removed {n} entries from {cache.root}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from kdaudit.report.schema import schema_text

    print(schema_text(), end="")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from kdaudit.train.cli import run_train

    return int(run_train(args, say=_say(args), note=_note(args)))


def _cmd_data(args: argparse.Namespace) -> int:
    from kdaudit.train.cli import run_data

    return int(run_data(args, say=_say(args)))


# --------------------------------------------------------------------------- sharded work


def _add_shard_commands(sub: Any, common: list[_Parser]) -> None:
    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data",
            required=True,
            help="data file, or a Parquet set (a folder of .parquet files or its .json manifest)",
        )
        p.add_argument("--label", metavar="COL", help="label column (tables)")
        p.add_argument(
            "--sensitive",
            type=_csv,
            default=None,
            metavar="COL[,COL...]",
            help="sensitive attribute columns",
        )
        p.add_argument(
            "--features",
            type=_csv,
            default=None,
            metavar="COL[,COL...]",
            help="feature columns of a table (default: all other numeric columns)",
        )
        p.add_argument(
            "--shards",
            metavar="I-J/N|all/N",
            help="I-J/N: a worker computes shards I..J of N; all/N: the driver of that "
            "layout checks every shard and writes the manifest (no --shards: the driver, "
            "one shard per Parquet file or 65,536 rows)",
        )
        p.add_argument("--ray", metavar="ADDRESS|auto", help="run the shards on a Ray cluster")
        p.add_argument(
            "--arch",
            metavar="NAME|module:callable",
            help="architecture for state_dict/safetensors models",
        )
        p.add_argument(
            "--format", dest="model_format", metavar="FORMAT", help="model format override"
        )
        p.add_argument(
            "--outputs",
            choices=OUTPUT_KINDS,
            default="auto",
            help="what the models output; auto treats rows that are non-negative and sum "
            "to 1 as probabilities",
        )
        _device_option(p, default="auto")
        p.add_argument(
            "--batch-size",
            type=_positive_int,
            default=None,
            metavar="N",
            help="rows per inference batch (default: about 32 MiB of input, at most 1024 rows)",
        )
        p.add_argument(
            "--trust-code",
            action="store_true",
            help="allow model formats that execute code (TorchScript, pickles, module:callable)",
        )

    i = sub.add_parser(
        "infer",
        help="compute a model's logits shard by shard into the cache",
        description=_describe(
            "Compute a model's logits shard by shard into a shared logit cache: "
            "workers take --shards I-J/N; the driver (--shards all/N, or no --shards for "
            "a Parquet set) checks every shard and writes the manifest (docs/scale.md)."
        ),
        epilog=_example(
            "kdaudit infer teacher.onnx --data parts/ --cache-dir /shared/cache --shards 0-3/16"
        ),
        parents=common,
    )
    i.add_argument("model", help="model file")
    i.add_argument(
        "--cache-dir", required=True, metavar="DIR", help="logit cache shared by the workers"
    )
    data_args(i)

    st = sub.add_parser(
        "stats",
        help="reduce shards to count tables for compare --from-stats",
        description=_describe(
            "Reduce each shard to count tables (per class, group and model), so "
            "'kdaudit compare --from-stats' can write the report without the rows."
        ),
        epilog=_example(
            "kdaudit stats teacher.onnx student.onnx --data parts/ --cache-dir /shared/cache \\",
            "    --out stats",
            "kdaudit compare --from-stats stats --out report",
        ),
        parents=common,
    )
    st.add_argument("teacher", help="teacher model file")
    st.add_argument("student", help="distilled student model file")
    st.add_argument("--baseline", metavar="MODEL", help="non-distilled student")
    st.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="logit cache (needed unless every model is a logits file)",
    )
    st.add_argument(
        "--out", required=True, metavar="STATS_DIR", help="folder for the per-shard tables"
    )
    data_args(st)


def _shard_job(args: argparse.Namespace) -> Any:
    from kdaudit.distributed.sources import is_driver, open_source, parse_shards
    from kdaudit.models.base import ModelSpec

    shards = parse_shards(args.shards) if args.shards else None
    source = open_source(
        args.data,
        label=args.label,
        sensitive=args.sensitive,
        features=args.features,
        n_shards=shards[2] if shards else None,
    )
    # a worker computes its slice; the driver (no --shards, or all/N) every shard + manifest
    indices = (
        None if shards is None or is_driver(args.shards) else list(range(shards[0], shards[1] + 1))
    )

    def spec(path: str, role: str) -> ModelSpec:
        return ModelSpec(
            path=path,
            role=role,
            format=args.model_format,
            arch=args.arch,
            outputs=args.outputs,
            trust_code=args.trust_code,
        )

    return source, indices, spec


def _ray_or_none(args: argparse.Namespace) -> Any:
    if not args.ray:
        return None
    from kdaudit.distributed.ray_runner import RayRunner

    return RayRunner(args.ray, progress=_show_progress(args), quiet=args.quiet)


def _cmd_infer(args: argparse.Namespace) -> int:
    from kdaudit.distributed.infer import run_infer
    from kdaudit.engine.cache import LogitCache

    source, indices, spec = _shard_job(args)
    cache = LogitCache(args.cache_dir)
    runner = _ray_or_none(args)
    if runner is not None:
        summary = runner.infer(
            spec(args.model, "model"),
            source,
            cache,
            shards=indices,
            device=args.device,
            batch_size=args.batch_size,
        )
    else:
        summary = run_infer(
            spec(args.model, "model"),
            source,
            cache,
            shards=indices,
            device=args.device,
            batch_size=args.batch_size,
            progress=_show_progress(args),
        )
    if not args.quiet:
        state = (
            "worker: shards written, no manifest"
            if summary.complete is None
            else "complete"
            if summary.complete
            else "incomplete"
        )
        print(f"{summary.entry}: {len(summary.shards)} shard(s) of {source.n_shards}; {state}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from kdaudit.distributed.stats import run_stats
    from kdaudit.engine.cache import LogitCache

    source, indices, spec = _shard_job(args)
    specs = {"teacher": [spec(args.teacher, "teacher")], "student": [spec(args.student, "student")]}
    if args.baseline:
        specs["baseline"] = [spec(args.baseline, "baseline")]
    cache = LogitCache(args.cache_dir) if args.cache_dir else None
    runner = _ray_or_none(args)
    if runner is not None:
        done = runner.stats(
            specs,
            source,
            args.out,
            cache=cache,
            shards=indices,
            device=args.device,
            batch_size=args.batch_size,
        )
    else:
        done = run_stats(
            specs,
            source,
            args.out,
            cache=cache,
            shards=indices,
            device=args.device,
            batch_size=args.batch_size,
            progress=_show_progress(args),
        )
    if not args.quiet:
        print(f"wrote statistics of {len(done)} shard(s) of {source.n_shards} to {args.out}")
    return 0


#: compare's flags that shape the models or the data: `kdaudit stats` fixed them
_FIXED_BY_STATS = (
    "baseline",
    "label",
    "features",
    "text_column",
    "max_length",
    "sensitive_file",
    "arch",
    "model_format",
    "outputs",
    *(
        f"{role}_{what}"
        for role in ROLES
        for what in ("arch", "preprocess", "outputs", "tokenizer", "max_length")
    ),
    "embedding_model",
)


def _cmd_compare_from_stats(args: argparse.Namespace) -> int:
    from kdaudit import api
    from kdaudit.distributed.stats import report_from_stats

    if args.teacher or args.student or args.data:
        raise UsageError(
            "--from-stats takes the models and data from the statistics folder; "
            "drop TEACHER, STUDENT and --data."
        )
    # flags that shape models or data were fixed when `kdaudit stats` ran: refused, not ignored
    fixed = [
        "--format" if dest == "model_format" else "--" + dest.replace("_", "-")
        for dest in _FIXED_BY_STATS
        if getattr(args, dest, None) not in (None, [], False, "auto")
    ]
    if fixed:
        raise UsageError(
            f"{', '.join(fixed)}: fixed when kdaudit stats ran; compare --from-stats cannot "
            "change models or data.",
            tip="Pass these to kdaudit stats (and rerun it), or drop them here.",
        )
    options = api.AuditOptions(**_options_from_args(args, only_given=False))
    policy = _load_policy_early(args)
    report = report_from_stats(
        args.from_stats,
        options=options,
        policy=policy,
        command_line=["kdaudit", *args.argv],
        sensitive=args.sensitive,
    )
    return _finish(report, args)


COMMANDS = {
    "infer": _cmd_infer,
    "stats": _cmd_stats,
    "compare": _cmd_compare,
    "audit": _cmd_audit,
    "gate": _cmd_gate,
    "demo": _cmd_demo,
    "cache": _cmd_cache,
    "schema": _cmd_schema,
    "train": _cmd_train,
    "data": _cmd_data,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run kdaudit with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # torch's OpenMP threads spin while waiting; on a shared machine (CI runners, a laptop
    # doing other work) that made training 10x slower (bench/bench_threads.py). Sleeping
    # waiters cost little when the machine is idle. Read when torch loads; a user's value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # garbage-collector thresholds and matplotlib's fonts for a short run (bench_startup.py)
    from kdaudit._startup import configure_cli_process

    configure_cli_process()
    with warnings.catch_warnings():
        return _main(argv)


def _route_warnings(*, verbose: bool, quiet: bool) -> None:
    """kdaudit's own warnings become one 'kdaudit: warning:' line; others only with --verbose."""
    if not verbose:
        warnings.simplefilter("ignore")
    warnings.simplefilter("ignore" if quiet else "always", KDAuditWarning)
    default_show = warnings.showwarning

    def show(
        message: Any,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, KDAuditWarning):
            print(f"kdaudit: warning: {message}", file=sys.stderr)
        else:
            default_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _main(argv: list[str]) -> int:
    verbose = False  # until parsed: a usage error needs no traceback
    try:
        _check_argv_encoding(argv)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        verbose = args.verbose
        _route_warnings(verbose=args.verbose, quiet=args.quiet)
        args.argv = argv
        return COMMANDS[args.command](args)
    except KDAuditError as exc:
        _print_error(str(exc), exc.tip)
        if verbose:
            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted", None)
        return 130
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        _print_error(
            f"out of memory{detail}", "use a smaller --batch-size, or fewer bootstrap replicates"
        )
        return 3
    except RecursionError:
        _print_error(
            "an input is nested too deeply to read", "check the files given; one may be damaged"
        )
        return 2
    except Exception as exc:  # the one place that turns bugs into exit code 4
        missing = missing_dependency(exc) if isinstance(exc, ImportError) else None
        if missing is not None:  # an optional package imported outside kdaudit._optional.require
            _print_error(str(missing), missing.tip)
            return missing.exit_code
        _print_error(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug in kdaudit",
            f"rerun with --verbose and report the traceback to {ISSUES_URL}",
        )
        if verbose:
            traceback.print_exc()
        return 4


def _check_argv_encoding(argv: list[str]) -> None:
    """Refuse arguments that are not UTF-8 (file names from a non-UTF-8 system) before any work:
    report.json could not record them, and the audit would fail only at the very end."""
    from kdaudit.safety import check_name

    for arg in argv:
        check_name(arg, "command-line argument")


def _print_error(message: str, tip: str | None) -> None:
    print(f"kdaudit: error: {message}", file=sys.stderr)
    if tip:
        print(f"tip: {tip}", file=sys.stderr)


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
