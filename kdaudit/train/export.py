"""Writing trained models: ONNX (checked against torch), safetensors and a JSON manifest.

Each model ``NAME`` becomes three files in the output folder:

* ``NAME.onnx`` -- input ``input`` of shape ``(batch, *input_shape)`` float32
  with a dynamic batch axis, output ``logits`` ``(batch, n_classes)``. After
  export, onnxruntime's outputs are compared with torch's on real inputs (two
  batch sizes); a difference above ``1e-4 * max(1, |logit|)`` raises
  :class:`~kdaudit.errors.ModelLoadError` (1e-4 absolute for logits up to 1
  in size, 1e-4 relative for larger ones: float32 kernels of onnxruntime and
  torch differ in the last bits, ~1e-5 on logits of size 10-40 and now and then
  just above it, which made a 16-model demo fail one run in a few; a real
  export error is orders of magnitude larger).
* ``NAME.safetensors`` -- the state dict (load with ``--arch ARCH``).
* ``NAME.json`` -- the manifest: role, arch, recipe, seed, temperature, soft
  weight, metrics, sha256 of both files, the preprocessing spec that maps the
  stored data to the model input. ``kdaudit audit`` reads it to label models.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kdaudit.errors import InputDataError, ModelLoadError
from kdaudit.hashing import file_sha256
from kdaudit.models.manifest import (  # noqa: F401 - part of this module's API
    MANIFEST_FORMAT,
    manifest_path_for,
    read_manifest,
    write_manifest,
)

__all__ = [
    "ONNX_ATOL",
    "OPSET",
    "export_model",
    "export_onnx",
    "export_safetensors",
    "load_safetensors",
]

ONNX_ATOL = 1e-4
OPSET = 17


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    check_input: np.ndarray,
    atol: float = ONNX_ATOL,
) -> dict[str, Any]:
    """Export ``model`` to ONNX with a dynamic batch axis and check it against torch.

    Parameters
    ----------
    model : nn.Module
        Evaluated on CPU in eval mode (a copy; the original is left as it was).
    path : str or Path
        Output ``.onnx`` path.
    check_input : ndarray of shape (n, *input_shape), float32
        Real model inputs (after preprocessing) used for the check; at least 2 rows.
    atol : float
        Largest allowed ``|onnx - torch| / max(1, |torch logit|)``.

    Returns
    -------
    dict
        ``{"max_abs_diff", "max_scaled_diff", "atol", "rule", "check_rows", "exporter",
        "opset"}``.
    """
    import copy

    import onnxruntime as ort

    path = Path(path)
    cpu_model = copy.deepcopy(model).to("cpu").eval()
    check = np.ascontiguousarray(check_input, dtype=np.float32)
    if check.shape[0] < 2:
        raise InputDataError("export_onnx needs at least 2 check rows to test the batch axis.")
    dummy = torch.from_numpy(check[:2])
    exporter = "torchscript"
    try:
        # the TorchScript exporter is ~10x faster than dynamo here and exact for these models
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                cpu_model,
                (dummy,),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as legacy_exc:  # legacy exporter removed or failing: try dynamo
        exporter = "dynamo"
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    cpu_model,
                    (dummy,),
                    str(path),
                    input_names=["input"],
                    output_names=["logits"],
                    dynamo=True,
                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1 << 30)},),
                )
        except Exception as exc:
            raise ModelLoadError(
                f"ONNX export of {path.name} failed with both exporters: {legacy_exc}; {exc}"
            ) from exc
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(
            f"The exported {str(path)!r} does not load in onnxruntime: {exc}"
        ) from exc
    name = sess.get_inputs()[0].name
    worst = scaled = 0.0
    n = check.shape[0]
    # two different batch sizes prove the batch axis is dynamic
    for block in (check[: max(1, n // 2)], check):
        with torch.no_grad():
            expected = cpu_model(torch.from_numpy(block)).numpy()
        got = sess.run(None, {name: block})[0]
        if got.shape != expected.shape:
            raise ModelLoadError(
                f"The exported {str(path)!r} returns shape {got.shape} for input "
                f"{block.shape}; torch returns {expected.shape}."
            )
        diff = np.abs(got.astype(np.float64) - expected)
        worst = max(worst, float(np.max(diff)))
        # float32 kernels differ in the last bits: atol for |logit| <= 1, relative beyond
        scaled = max(scaled, float(np.max(diff / np.maximum(1.0, np.abs(expected)))))
    if not scaled <= atol:
        raise ModelLoadError(
            f"The exported {str(path)!r} disagrees with the torch model: max logit "
            f"difference {worst:.3g} (scaled by max(1, |logit|): {scaled:.3g}) > {atol:g}.",
            tip="Report this with the architecture name; the ONNX file was not trusted.",
        )
    return {
        "max_abs_diff": worst,
        "max_scaled_diff": scaled,
        "atol": atol,
        "rule": "|onnx - torch| <= atol * max(1, |torch logit|)",
        "check_rows": int(n),
        "exporter": exporter,
        "opset": OPSET,
    }


def export_safetensors(
    model: nn.Module, path: str | Path, *, metadata: dict[str, str] | None = None
) -> None:
    """Write the model's state dict (CPU, contiguous) as safetensors."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=metadata or {})


def load_safetensors(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a safetensors state dict into ``model`` (strict)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelLoadError(f"Could not load weights {str(path)!r}: {exc}") from exc
    return model


def export_model(
    model: nn.Module,
    out_dir: str | Path,
    name: str,
    *,
    check_input: np.ndarray,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write ``NAME.onnx``, ``NAME.safetensors`` and ``NAME.json`` into ``out_dir``.

    Parameters
    ----------
    model : nn.Module
    out_dir : str or Path
        Created if missing.
    name : str
        File stem.
    check_input : ndarray of shape (n, *input_shape), float32
        Inputs for the ONNX-vs-torch check.
    manifest : dict
        Role, recipe, metrics...; file names, hashes and the check result are added.

    Returns
    -------
    dict
        The manifest as written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / f"{name}.onnx"
    st_path = out / f"{name}.safetensors"
    check = export_onnx(model, onnx_path, check_input=check_input)
    export_safetensors(
        model,
        st_path,
        metadata={
            "format": MANIFEST_FORMAT,
            "arch": str(manifest.get("arch", "")),
            "role": str(manifest.get("role", "")),
        },
    )
    full = {
        "format": MANIFEST_FORMAT,
        "name": name,
        **manifest,
        "files": {
            "onnx": {"path": onnx_path.name, "sha256": file_sha256(onnx_path)},
            "safetensors": {"path": st_path.name, "sha256": file_sha256(st_path)},
        },
        "onnx_check": check,
        "outputs": "logits",
    }
    write_manifest(out / f"{name}.json", full)
    return full
