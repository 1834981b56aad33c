"""Where kdaudit may read and write, and what it may open: one module every reader uses.

Rules (issue 9, INTERFACE.md "Exit codes"):

* Every input file (model, data, config, policy, manifest, embedding, report) must be a
  **regular file**: a FIFO would block ``open()``, ``/dev/zero`` would be hashed forever,
  a socket or a directory cannot be read. :func:`regular_file` checks with ``os.stat``
  (symlinks followed) *before* anything opens the path; :func:`open_regular` opens with
  ``O_NONBLOCK`` and re-checks the opened descriptor, so a file swapped for a FIFO
  between the check and the open cannot hang either.
* A model may make kdaudit read only its own file and files **inside its own folder**
  (:func:`confined`): no absolute locations, no ``..``, no symlink leading out.
* Every file name kdaudit records must be writable into report.json (valid UTF-8):
  :func:`check_name` refuses names that are not, before any work is done.
* Nesting depth of TOML and JSON is bounded before parsing (:func:`check_depth`), so a
  deeply nested file is a clear input error instead of a ``RecursionError``.
* Output locations are probed before the audit (:func:`probe_output_dir`,
  :func:`probe_output_file`).
* Third parties stay offline and quiet (:func:`offline_environment`,
  :func:`isolate_matplotlib`, :func:`captured_native_stderr`).

This module imports nothing from kdaudit but :mod:`kdaudit.errors`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kdaudit.errors import AuditError, InputDataError, KDAuditError, UsageError

__all__ = [
    "MAX_NESTING",
    "bundled_fonts_only",
    "captured_native_stderr",
    "check_depth",
    "check_name",
    "confined",
    "isolate_matplotlib",
    "offline_environment",
    "open_regular",
    "probe_output_dir",
    "probe_output_file",
    "read_bytes_regular",
    "read_text_regular",
    "regular_file",
]

#: deepest nesting of arrays/tables accepted in TOML and JSON inputs (configs, policies,
#: manifests and reports are a few levels deep; Python's parsers recurse per level)
MAX_NESTING = 64


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_name(path: str | Path, role: str) -> None:
    """Refuse a file name that cannot be recorded in report.json (not valid UTF-8).

    Raises
    ------
    UsageError
        The name holds bytes that are not UTF-8 (Python keeps them as surrogates).
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise UsageError(
            f"The {role} path {shown!r} is not valid UTF-8, so it cannot be recorded in the report.",
            tip="Rename the file (or folder) with a UTF-8 name.",
        ) from None


def regular_file(
    path: str | Path, role: str, *, error: type[KDAuditError] = InputDataError
) -> Path:
    """Return ``path`` when it names an existing regular file (symlinks followed).

    Parameters
    ----------
    path : str or Path
        The file.
    role : str
        What the file is, for messages ("data file", "teacher model", ...).
    error : exception class
        Raised when the file is missing or not regular (default InputDataError, exit 2).
    """
    p = Path(path)
    check_name(p, role)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error(f"The {role} {str(p)!r} does not exist.", tip="Check the path.") from None
    except OSError as exc:
        raise error(f"The {role} {str(p)!r} cannot be read: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(
            f"The {role} {str(p)!r} is {_kind(st.st_mode)}; expected a regular file.",
            tip="Give the path of an ordinary file.",
        )
    return p


@contextlib.contextmanager
def open_regular(path: str | Path, role: str) -> Iterator[int]:
    """Open a regular file read-only without ever blocking; yields the descriptor.

    ``O_NONBLOCK`` keeps a FIFO from blocking ``open()``; ``fstat`` then refuses
    anything that is not a regular file (the path may have changed since a check).
    """
    p = regular_file(path, role)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        raise InputDataError(
            f"The {role} {str(p)!r} cannot be opened: {exc.strerror or exc}."
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputDataError(  # pragma: no cover - a race: regular_file() checked it just before
                f"The {role} {str(p)!r} is {_kind(st.st_mode)}; expected a regular file."
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        yield fd
    finally:
        os.close(fd)


def read_bytes_regular(path: str | Path, role: str, *, limit: int | None = None) -> bytes:
    """The bytes of a regular file (optionally refusing files larger than ``limit``)."""
    with open_regular(path, role) as fd:
        size = os.fstat(fd).st_size
        if limit is not None and size > limit:
            raise InputDataError(
                f"The {role} {str(path)!r} is {size} bytes; at most {limit} are accepted for this kind "
                "of file."
            )
        chunks = []
        while block := os.read(fd, 1 << 20):
            chunks.append(block)
            if limit is not None and sum(map(len, chunks)) > limit:
                raise InputDataError(  # pragma: no cover - a race: the file grew after fstat
                    f"The {role} {str(path)!r} grew beyond {limit} bytes while read."
                )
        return b"".join(chunks)


def read_text_regular(path: str | Path, role: str, *, limit: int | None = 64 << 20) -> str:
    """A regular file's text as UTF-8 (configs, policies, manifests, reports)."""
    data = read_bytes_regular(path, role, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputDataError(f"The {role} {str(path)!r} is not UTF-8 text: {exc}.") from None


_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'')


def check_depth(text: str, source: str, *, limit: int = MAX_NESTING) -> None:
    """Refuse TOML/JSON text nested deeper than ``limit`` (before a recursive parser sees it).

    Brackets inside quoted strings are ignored (an approximate but conservative scan:
    multi-line strings can only make it over-count, and ``limit`` is far above real files).
    """
    if text.count("[") + text.count("{") <= limit:
        return
    depth = peak = 0
    for line in text.splitlines():
        stripped = _STRING_RE.sub("", line)
        if stripped.lstrip().startswith("#"):
            continue
        for ch in stripped:
            if ch in "[{":
                depth += 1
                if depth > peak:
                    peak = depth
                    if peak > limit:
                        raise InputDataError(
                            f"{source} is nested more than {limit} levels deep; kdaudit's files are "
                            "a few levels deep.",
                            tip="Check that the file is the one you meant; it may be damaged or hostile.",
                        )
            elif ch in "]}":
                depth = max(0, depth - 1)


def confined(base: str | Path, location: str, *, what: str) -> Path:
    """Resolve ``location`` (relative, from a model file) inside folder ``base`` or refuse it.

    Refused: absolute paths, any ``..`` component, and anything whose resolved path
    (symlinks followed) lies outside ``base``.

    Raises
    ------
    InputDataError
        With ``what`` (e.g. "ONNX model 'm.onnx' external data") and the location.
    """
    loc = str(location)
    root = Path(base).resolve()
    parts = Path(loc).parts
    problem = None
    if not loc or "\x00" in loc:
        problem = "an empty or invalid location"
    elif Path(loc).is_absolute() or loc.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", loc):
        problem = "an absolute path"
    elif ".." in parts or ".." in loc.replace("\\", "/").split("/"):
        problem = "a path with '..'"
    else:
        target = (root / loc).resolve()
        if target != root and root not in target.parents:
            problem = "a path (through a symlink) outside the model's folder"
    if problem:
        raise InputDataError(
            f"The {what} names {loc!r}, {problem}; kdaudit reads only files inside the model's "
            f"own folder {str(root)!r}.",
            tip="Re-save the model with its external data beside it (onnx.save_model(..., "
            "save_as_external_data=True, location='NAME.data')).",
        )
    return root / loc


# --------------------------------------------------------------------------- outputs


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def probe_output_dir(out: str | Path, *, what: str = "report folder (--out)") -> None:
    """Check before the audit that ``out`` can be created and written; nothing is left behind.

    Raises
    ------
    UsageError
        The name is not UTF-8 or a file is in the way (exit 2).
    AuditError
        The place exists but cannot be written (read-only, full, permissions; exit 3).
    """
    p = Path(out)
    check_name(p, what)
    if p.exists() and not p.is_dir():
        raise UsageError(
            f"The {what} {str(p)!r} is a file; expected a folder.",
            tip="Choose another --out or remove the file.",
        )
    anchor = _nearest_existing(p.absolute())
    if not anchor.is_dir():
        raise UsageError(f"The {what} {str(p)!r} cannot be created: {str(anchor)!r} is a file.")
    _probe_write(anchor, what, str(p))


def probe_output_file(path: str | Path, *, what: str) -> None:
    """Check before the audit that the file ``path`` can be written (its folder is writable)."""
    p = Path(path)
    check_name(p, what)
    if p.is_dir():
        raise UsageError(f"The {what} {str(p)!r} is a directory; give a file path.")
    if p.exists() and not p.is_file():
        raise UsageError(f"The {what} {str(p)!r} is not a regular file.")
    anchor = _nearest_existing(p.absolute().parent)
    if not anchor.is_dir():
        raise UsageError(f"The {what} {str(p)!r} cannot be created: {str(anchor)!r} is a file.")
    _probe_write(anchor, what, str(p))


def _probe_write(folder: Path, what: str, shown: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kdaudit-probe-", suffix=".tmp")
    except OSError as exc:
        raise AuditError(
            f"Cannot write the {what} {shown!r}: {str(folder)!r} is not writable "
            f"({exc.strerror or exc}).",
            tip="Choose a writable location (check permissions and free space).",
        ) from None
    try:
        try:
            os.write(fd, b"kdaudit write probe\n")
            os.fsync(fd)
        except OSError as exc:
            raise AuditError(
                f"Cannot write the {what} {shown!r}: writing in {str(folder)!r} failed "
                f"({exc.strerror or exc}).",
                tip="Free some disk space or choose another location.",
            ) from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# --------------------------------------------------------------------------- third parties


def offline_environment() -> None:
    """Keep onnxruntime from writing telemetry (a device id under ``$HOME/.cache``).

    Must run before onnxruntime is imported; a value the user set is kept.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


_MPL_DIR: list[str] = []
_BUNDLED_FONTS: list[bool] = []  # set by bundled_fonts_only()
# the format version of matplotlib's font list cache (``FontManager.__version__``), read
# from the source so that font_manager is not imported before its cache file exists
_FONTLIST_VERSION = re.compile(r"""^ +__version__ = ["']([\w.]+)["']""", re.MULTILINE)


def bundled_fonts_only() -> None:
    """Have :func:`isolate_matplotlib` give matplotlib only the fonts it ships with.

    kdaudit's figures are drawn in DejaVu Sans, which ships with matplotlib, so other
    fonts never change a figure. But a font list built from scratch in the private
    folder parses every system font and matplotlib's 61 AFM metric files, and runs
    ``fc-list``: ~0.09 s of CPU per run (bench/bench_startup.py), and reads outside
    what the user named. The command line calls this; in a library user's process
    matplotlib's font list (process-wide) stays complete.
    """
    _BUNDLED_FONTS[:] = [True]


def isolate_matplotlib() -> None:
    """Point matplotlib's config/cache folder at a private temp folder removed at exit.

    Otherwise matplotlib writes a font cache into ``$HOME/.cache`` (a file outside
    ``--out``, ``--junit`` and the logit cache). A folder the user set is kept.
    After :func:`bundled_fonts_only`, the font list holds matplotlib's own TrueType
    fonts only. Must run before matplotlib is imported.
    """
    if os.environ.get("MPLCONFIGDIR") or _MPL_DIR:
        return
    folder = tempfile.mkdtemp(prefix="kdaudit-mpl-")
    _MPL_DIR.append(folder)
    os.environ["MPLCONFIGDIR"] = folder
    atexit.register(shutil.rmtree, folder, True)
    if _BUNDLED_FONTS and "matplotlib.font_manager" not in sys.modules:
        _bundled_font_list(Path(folder))


def _bundled_font_list(folder: Path) -> None:
    """Seed ``folder`` with an empty font list, import matplotlib, add its own TTF fonts.

    The list is what matplotlib's cache file holds (loaded instead of a scan when its
    version matches); fonts are added through the public ``FontManager.addfont``, which
    computes each entry as a scan would. Anything unexpected (a matplotlib whose cache
    format differs) leaves matplotlib to build its full list as usual.
    """
    import importlib.util
    import json

    spec = importlib.util.find_spec("matplotlib.font_manager")  # imports matplotlib only
    try:
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except (OSError, UnicodeDecodeError):
        return
    found = _FONTLIST_VERSION.search(source)
    if found is None:
        return
    version = found.group(1)
    skeleton: dict[str, object] = {
        "_version": version,
        "_FontManager__default_weight": "normal",
        "default_size": None,
        "defaultFamily": {"ttf": "DejaVu Sans", "afm": "Helvetica"},
        "afmlist": [],
        "ttflist": [],
        "kdaudit_bundled_only": True,
        "__class__": "FontManager",
    }
    try:
        (folder / f"fontlist-v{version}.json").write_text(json.dumps(skeleton), encoding="utf-8")
    except OSError:
        return  # matplotlib builds its full list (and reports its own trouble writing it)

    import matplotlib
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if not getattr(manager, "kdaudit_bundled_only", False):
        return  # matplotlib did not take the seed: it built its full list
    ttf = Path(matplotlib.get_data_path(), "fonts", "ttf")
    for path in sorted(font_manager.findSystemFonts([str(ttf)], fontext="ttf")):
        try:
            manager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # as matplotlib's own scan: skip the file
            continue


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Collect what native code (onnxruntime's logger) writes to file descriptor 2.

    Yields a list that is filled with the captured lines (colour codes removed) when
    the block ends, so the caller can turn them into kdaudit warnings, which
    ``--quiet`` silences. Falls back to no capture where fd 2 cannot be duplicated.
    """
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:
        yield lines
        return
    with tempfile.TemporaryFile() as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(1 << 16).decode("utf-8", "replace")
            lines.extend(ln.strip() for ln in _ANSI_RE.sub("", text).splitlines() if ln.strip())
