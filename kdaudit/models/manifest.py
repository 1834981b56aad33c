"""Model manifests: the JSON that ``kdaudit train`` writes beside each model.

``NAME.onnx`` + ``NAME.safetensors`` + ``NAME.json``; the manifest records the
recipe, seed, temperature, soft weight, metrics, the preprocessing the model was
trained with, and the hashes of the model files. An audit reads it (without
importing torch) to label students and to preprocess inputs exactly as in training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdaudit.errors import InputDataError
from kdaudit.hashing import file_sha256
from kdaudit.safety import confined, regular_file
from kdaudit.validation import load_json, validate

__all__ = [
    "MANIFEST_FORMAT",
    "manifest_for_model",
    "manifest_path_for",
    "read_manifest",
    "write_manifest",
]

MANIFEST_FORMAT = "kdaudit-model/1"


def manifest_path_for(path: str | Path) -> Path:
    """The manifest beside a model file: ``x.onnx`` -> ``x.json``."""
    p = Path(path)
    return p if p.suffix.lower() == ".json" else p.with_suffix(".json")


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> None:
    """Write a manifest as indented, key-sorted JSON."""
    from kdaudit.results import to_native

    Path(path).write_text(json.dumps(to_native(manifest), indent=2, sort_keys=True) + "\n")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read the manifest for a model file (or the manifest itself).

    Raises
    ------
    InputDataError
        When there is no manifest, or it is not a kdaudit model manifest.
    """
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise InputDataError(
            f"{str(manifest_path_for(path))!r} is not a kdaudit model manifest "
            f"(format {MANIFEST_FORMAT!r})."
        )
    return validate(
        data, "model_manifest", repr(str(manifest_path_for(path))), error=InputDataError
    )


def _read_json(path: str | Path) -> Any:
    mpath = manifest_path_for(path)
    if not mpath.exists():
        raise InputDataError(
            f"No kdaudit manifest {str(mpath)!r} beside {str(path)!r}.",
            tip="Models written by 'kdaudit train' have NAME.onnx, NAME.safetensors and NAME.json.",
        )
    return load_json(mpath, "model_manifest", role="model manifest", check=False)


def manifest_for_model(path: str | Path, *, sha256: str | None = None) -> dict[str, Any] | None:
    """The manifest that describes exactly this model file, or None.

    A manifest counts only when it names this file's bytes: its ``files`` entry for
    the file's extension must carry the file's sha256. A stale or foreign
    ``NAME.json`` is ignored, so it can never change how a model is audited.
    """
    p = Path(path)
    mpath = manifest_path_for(p)
    if mpath == p or not mpath.exists():
        return None
    regular_file(mpath, "model manifest")  # a FIFO or device beside the model must not hang us
    confined(p.parent, mpath.name, what=f"manifest beside the model {str(p)!r}")  # no symlink out
    try:
        data = _read_json(p)
    except InputDataError:
        return None  # not JSON at all: someone else's file, never used
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    # a kdaudit manifest beside the model is used, so a damaged one is an input error (exit 2)
    validate(data, "model_manifest", repr(str(mpath)), error=InputDataError)
    entry = (data.get("files") or {}).get(p.suffix.lower().lstrip("."))
    if not isinstance(entry, dict) or entry.get("path") != p.name:
        return None
    if entry.get("sha256") != (sha256 or file_sha256(p)):
        return None
    return data
