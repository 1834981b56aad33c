"""The CLI's surface: global -q/-v anywhere, help on every option, the exit-code table in
--help, one vocabulary for choices, and no module but cli.py that prints."""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import kdaudit
from kdaudit.cli import EXIT_CODES, build_parser, main
from kdaudit.vocab import CORRECTIONS, DEVICES, DISTANCES, ROLES

PACKAGE = Path(kdaudit.__file__).resolve().parent
N = 200


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("kdaudit",)
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the tree (the top one and each subcommand's), with its command line."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = dict(_parsers(build_parser()))
COMMANDS = [name.split(" ", 1)[1] for name in PARSERS if " " in name]


@pytest.fixture
def task(tmp_path: Path) -> dict[str, Path]:
    """Two logits files and their data: the cheapest audit there is."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    np.savez(tmp_path / "eval.npz", y=y, sensitive_sex=rng.choice(["F", "M"], N))
    paths = {"data": tmp_path / "eval.npz", "dir": tmp_path}
    for role in ("teacher", "student"):
        logits = rng.normal(size=(N, 2)).astype(np.float32)
        logits[np.arange(N), y] += 2.0
        paths[role] = tmp_path / f"{role}.npy"
        np.save(paths[role], logits)
    return paths


def _compare(task: dict[str, Path], out: str) -> list[str]:
    return [
        "compare",
        str(task["teacher"]),
        str(task["student"]),
        "--data",
        str(task["data"]),
        "--out",
        str(task["dir"] / out),
        "--no-cache",
        "--bootstrap",
        "20",
        "--skip",
        "individual_fairness",
    ]


# --------------------------------------------------------------------------- -q / -v


def test_the_parse_tree_covers_every_command() -> None:
    expected = {"compare", "audit", "gate", "demo", "cache", "schema", "infer", "stats"}
    assert expected | {"train", "data"} <= set(COMMANDS)


@pytest.mark.parametrize("command", ["compare", "audit", "gate", "cache", "infer", "train"])
@pytest.mark.parametrize("flag", ["-q", "--quiet", "-v", "--verbose"])
def test_global_flags_parse_before_and_after_the_command(command: str, flag: str) -> None:
    needs = {
        "compare": ["t.onnx", "s.onnx", "--data", "d.npz"],
        "audit": ["c.toml"],
        "gate": ["report.json", "--policy", "default"],
        "cache": ["ls"],
        "infer": ["m.onnx", "--data", "d.npz", "--cache-dir", "c"],
        "train": ["--role", "teacher"],
    }[command]
    dest = "quiet" if flag.lstrip("-").startswith("q") else "verbose"
    other = "verbose" if dest == "quiet" else "quiet"
    parser = build_parser()
    for argv in ([flag, command, *needs], [command, *needs, flag], [command, flag, *needs]):
        args = parser.parse_args(argv)
        assert getattr(args, dest) is True, argv
        assert getattr(args, other) is False, argv
    args = parser.parse_args([command, *needs])
    assert args.quiet is False and args.verbose is False


def test_quiet_before_or_after_the_command_silences_the_same(task, capsys) -> None:
    outputs = []
    for i, argv in enumerate(
        (["-q", *_compare(task, "a")], [*_compare(task, "b"), "-q"], _compare(task, "c"))
    ):
        assert main(argv) == 0
        outputs.append(capsys.readouterr())
        assert (task["dir"] / "abc"[i] / "report.json").is_file()
    assert outputs[0].out == outputs[1].out == ""
    assert "wrote json" in outputs[2].out  # without -q the written files are listed


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command_shows_the_traceback(task, capsys, where) -> None:
    argv = [*_compare(task, "out")]
    argv[argv.index("--data") + 1] = str(task["dir"] / "none.npz")
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["-v", *argv] if where == "before" else [*argv, "-v"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdaudit: error:") and "Traceback" in err


def test_a_value_that_looks_like_a_flag_is_not_a_flag(task, capsys) -> None:
    """argv is parsed, not scanned: '-v' as an option's value does not turn on --verbose."""
    argv = [*_compare(task, "out")]
    argv[argv.index("--data") + 1] = str(task["dir"] / "none.npz")
    assert main([*argv, "--label=-v"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_quiet_works_on_every_command_that_prints(tmp_path, capsys) -> None:
    cache = str(tmp_path / "cache")
    assert main(["cache", "clear", "--cache-dir", cache]) == 0
    assert "removed" in capsys.readouterr().out
    for argv in (["-q", "cache", "clear", "--cache-dir", cache], ["cache", "clear", "-q"]):
        argv = [*argv, "--cache-dir", cache] if "--cache-dir" not in argv else argv
        assert main(argv) == 0
        assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- help


def test_every_option_and_positional_has_help() -> None:
    missing = []
    for name, parser in PARSERS.items():
        for action in parser._actions:
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name}: {action.option_strings or action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [
                    f"{name} {choice.dest}" for choice in action._choices_actions if not choice.help
                ]
    assert not missing, f"options without help: {missing}"


def test_no_parser_resolves_conflicts_silently() -> None:
    """conflict_handler='resolve' would let a second definition replace a flag unnoticed."""
    assert {p.conflict_handler for p in PARSERS.values()} == {"error"}


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_exits_0_and_shows_an_example(command: str | None, capsys) -> None:
    assert main([*([command] if command else []), "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: kdaudit")
    assert "example" in out and "-q, --quiet" in out and "-v, --verbose" in out
    assert re.search(r"\n {2}kdaudit \w", out), "no example command line"


def test_top_level_help_has_the_exit_code_table(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("exit codes:") :]
    # INTERFACE.md "Exit codes", the contract
    interface = {
        0: "audit done; gate passed or no gate",
        1: "audit done; gate failed",
        2: "usage or input error",
        3: "could not audit",
        4: "internal error",
    }
    for code, meaning in interface.items():
        assert re.search(rf"^ +{code} +{re.escape(meaning)}", table, re.M), (code, table)
        assert EXIT_CODES[code].startswith(meaning)
    assert out.count("  kdaudit ") >= 2  # examples


def test_defaults_are_shown_once() -> None:
    help_text = PARSERS["kdaudit compare"].format_help()
    for flag, default in [("--alpha", "0.05"), ("--bootstrap", "1000"), ("--device", "auto")]:
        block = help_text[help_text.index(f"\n  {flag} ") + 1 :].split("\n  -", 1)[0]
        assert f"(default: {default})" in " ".join(block.split()), block
    assert "(default: None)" not in help_text and "(default: False)" not in help_text
    assert help_text.count("(default: 0.05)") == 1


# --------------------------------------------------------------------------- one vocabulary


def _choices(dest: str) -> dict[str, tuple[str, ...]]:
    return {
        name: tuple(action.choices)
        for name, parser in PARSERS.items()
        for action in parser._actions
        if action.dest == dest and action.choices is not None
    }


def test_device_choices_are_the_same_everywhere() -> None:
    got = _choices("device")
    commands = {"compare", "audit", "demo", "infer", "stats", "train"}
    assert {name.split()[-1] for name in got} >= commands
    assert set(got.values()) == {DEVICES}


def test_device_accepts_any_case_like_the_engine(task) -> None:
    args = build_parser().parse_args([*_compare(task, "out"), "--device", "CPU"])
    assert args.device == "cpu"


@pytest.mark.parametrize(
    ("dest", "vocab"),
    [("correction", CORRECTIONS), ("distance", DISTANCES), ("role", ROLES)],
)
def test_closed_choices_come_from_vocab(dest: str, vocab: tuple[str, ...]) -> None:
    got = _choices(dest)
    assert got and set(got.values()) == {vocab}
    assert set(_choices("embedding_model").values()) == {ROLES}


# --------------------------------------------------------------------------- printing


def _prints(tree: ast.AST) -> list[int]:
    """Lines calling print() or sys.stdout/sys.stderr .write() (docstrings are not calls)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "print":
            lines.append(node.lineno)
        elif (
            isinstance(f, ast.Attribute)
            and f.attr in ("write", "writelines")
            and isinstance(f.value, ast.Attribute)
            and f.value.attr in ("stdout", "stderr")
            and isinstance(f.value.value, ast.Name)
            and f.value.value.id == "sys"
        ):
            lines.append(node.lineno)
    return lines


def test_only_cli_py_prints() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "cli.py":
            continue
        lines = _prints(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[rel] = lines
    assert not offenders, f"library modules that print (route through cli.py): {offenders}"


def test_the_print_finder_finds_prints() -> None:
    """The check above is not vacuous: it sees print() and sys.stderr.write, not docstrings."""
    src = '"""print(x)"""\nimport sys\nprint(1)\nsys.stderr.write("a")\nlog = print\n'
    assert _prints(ast.parse(src)) == [3, 4]
    assert _prints(ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8")))
