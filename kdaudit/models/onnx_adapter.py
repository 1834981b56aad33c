"""ONNX models through onnxruntime, with execution providers named explicitly."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.device import CUDA_EP, onnx_providers
from kdaudit.errors import InputDataError, KDAuditWarning, ModelLoadError
from kdaudit.models.base import ModelAdapter, ModelSpec
from kdaudit.models.preprocess import apply_preprocess
from kdaudit.safety import captured_native_stderr, confined, offline_environment, regular_file

__all__ = ["OnnxAdapter", "external_data_hashes", "external_data_refs"]

_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class OnnxAdapter(ModelAdapter):
    """An onnxruntime session over one ``.onnx`` file.

    The first graph output is taken as the ``(batch, n_classes)`` result. Each
    graph input's dtype comes from the graph; a multi-input model reads
    ``dataset.x[name]`` for every input ``name`` (``x_<name>`` arrays in npz
    data). A batch dimension fixed in the graph (e.g. 1) is honoured by running
    the batch in pieces of that size, padding the last piece.
    """

    def __init__(self, spec: ModelSpec, *, sha256: str, device: str = "auto") -> None:
        # weights saved as ONNX external data must live inside the model's folder; they are
        # checked (and hashed: they define the outputs, so they are part of the model's
        # identity and report entry) before onnxruntime is allowed to open anything
        self.external_data = external_data_hashes(spec.path, role=spec.role)
        offline_environment()
        import onnxruntime as ort

        providers = onnx_providers(device)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # onnxruntime's own warnings would bypass --quiet
        ort.set_default_logger_severity(3)
        native: list[str] = []
        try:
            with captured_native_stderr() as native:
                self.session = ort.InferenceSession(
                    spec.path, sess_options=options, providers=providers
                )
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelLoadError(
                f"Could not load the {spec.role} model {spec.path!r} as ONNX: {_first_line(exc)}",
                tip="The file may be truncated or not an ONNX model; re-export it "
                "(onnx.checker.check_model tells more).",
            ) from exc
        _warn_native(native, spec)
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4  # a failing run raises; its log line is noise
        active = self.session.get_providers()
        super().__init__(
            spec,
            format="onnx",
            sha256=sha256,
            device_type="cuda" if active and active[0] == CUDA_EP else "cpu",
        )
        self.providers = list(active)
        self.inputs: list[tuple[str, list[Any], np.dtype]] = []
        for node in self.session.get_inputs():
            if node.type not in _ONNX_DTYPES:
                raise ModelLoadError(
                    f"The {spec.role} model {spec.path!r} has input {node.name!r} of type {node.type}, "
                    "which kdaudit cannot feed.",
                    tip="Export the model with float32, float16 or integer inputs.",
                )
            self.inputs.append((node.name, list(node.shape), np.dtype(_ONNX_DTYPES[node.type])))
        outputs = self.session.get_outputs()
        if not outputs:
            raise ModelLoadError(f"The {spec.role} model {spec.path!r} has no outputs.")
        self.output_name = outputs[0].name
        out_shape = outputs[0].shape
        if self.n_classes is None and len(out_shape) >= 2 and isinstance(out_shape[-1], int):
            self.n_classes = int(out_shape[-1])
        batch_dims = {s[0] for _, s, _ in self.inputs if s and isinstance(s[0], int) and s[0] > 0}
        self.fixed_batch = min(batch_dims) if batch_dims else None

    @property
    def input_names(self) -> list[str]:
        return [name for name, _, _ in self.inputs]

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.external_data:
            out["external_data"] = [
                {"path": k, "sha256": v} for k, v in sorted(self.external_data.items())
            ]
        return out

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out["external_data"] = dict(sorted(self.external_data.items()))
        out["arch"] = None  # ignored for ONNX
        return out

    def _feed(self, x: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pp = self.spec.preprocess
        if isinstance(x, dict):
            if len(self.inputs) == 1 and self.inputs[0][0] not in x and len(x) == 1:
                x = {self.inputs[0][0]: next(iter(x.values()))}
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise InputDataError(
                    f"The {self.name} takes inputs {self.input_names}; the data has no "
                    f"{', '.join('x_' + m for m in missing)} array(s) (found {sorted('x_' + k for k in x)}).",
                    tip="A multi-input model reads one npz array named x_<input name> per input.",
                )
            raw = {n: x[n] for n in self.input_names}
        else:
            if len(self.inputs) != 1:
                raise InputDataError(
                    f"The {self.name} takes {len(self.inputs)} inputs {self.input_names}; "
                    "the data has a single 'x' array.",
                    tip="Store one array per input, named x_<input name>, in the npz file.",
                )
            raw = {self.inputs[0][0]: x}
        feed: dict[str, np.ndarray] = {}
        for name, shape, dtype in self.inputs:
            arr = apply_preprocess(pp, raw[name], dtype)
            self._check_shape(name, shape, arr)
            feed[name] = arr
        return feed

    def _check_shape(self, name: str, shape: list[Any], arr: np.ndarray) -> None:
        static = shape[1:]
        ok = len(static) == arr.ndim - 1 and all(
            not isinstance(d, int) or d <= 0 or d == a
            for d, a in zip(static, arr.shape[1:], strict=True)
        )
        if not ok:
            want = ["?" if not isinstance(d, int) or d <= 0 else d for d in static]
            raise InputDataError(
                f"The {self.name} expects input {name!r} samples of shape {want}; "
                f"the preprocessed data gives {list(arr.shape[1:])}.",
                tip="Fix the model's preprocess: 'reshape' (e.g. [784] or [1, 28, 28]) or "
                "'transpose' (HWC -> CHW is [2, 0, 1]).",
            )

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        try:
            return np.asarray(self.session.run([self.output_name], feed, self._run_options)[0])
        except Exception as exc:  # onnxruntime's pybind errors
            raise ModelLoadError(
                f"The {self.name} failed to run: {_first_line(exc)}",
                tip="Check the model's inputs and preprocessing.",
            ) from exc

    def _forward(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        feed = self._feed(x)
        n = next(iter(feed.values())).shape[0]
        k = self.fixed_batch
        if k is None or n == k:
            return self._run(feed)
        parts = []
        for start in range(0, n, k):
            piece = {name: a[start : start + k] for name, a in feed.items()}
            rows = next(iter(piece.values())).shape[0]
            if rows < k:  # pad with copies of the last row; the padded outputs are dropped
                piece = {
                    name: np.concatenate([a, np.repeat(a[-1:], k - rows, axis=0)])
                    for name, a in piece.items()
                }
            parts.append(self._run(piece)[:rows])
        return np.concatenate(parts, axis=0)


def _warn_native(lines: list[str], spec: ModelSpec) -> None:
    """onnxruntime's own log lines become kdaudit warnings (silent under --quiet)."""
    for line in lines[:5]:
        warnings.warn(
            f"onnxruntime, {spec.role} model {spec.path!r}: {line[:300]}",
            KDAuditWarning,
            stacklevel=3,
        )


def external_data_refs(path: str | Path, *, role: str = "model") -> dict[str, Path]:
    """Every external-data location the ONNX file names, resolved inside the model's folder.

    Reads the protobuf only (``load_external_data=False``): no tensor data is opened.
    Every tensor is inspected (initializers, sparse initializers, tensor attributes,
    subgraphs), used or not, so an unused initializer cannot name a file outside either.

    Raises
    ------
    InputDataError
        A location outside the model's folder (absolute, ``..``, a symlink out), or one
        that is not a regular file.
    ModelLoadError
        The file is not a parseable ONNX protobuf.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelLoadError(
            f"Could not load the {role} model {str(path)!r} as ONNX: {_first_line(exc)}",
            tip="The file may be truncated or not an ONNX model; re-export it "
            "(onnx.checker.check_model tells more).",
        ) from exc
    locations: set[str] = set()

    def tensor(t: Any) -> None:
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            found = [e.value for e in t.external_data if e.key == "location"]
            if not found:
                raise InputDataError(
                    f"The {role} model {str(path)!r} has tensor {t.name!r} stored externally "
                    "without a location."
                )
            locations.update(found)

    def graph(g: Any) -> None:
        for t in g.initializer:
            tensor(t)
        for sp in g.sparse_initializer:
            tensor(sp.values)
            tensor(sp.indices)
        for node in g.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    tensor(attr.t)
                for t in attr.tensors:
                    tensor(t)
                if attr.HasField("sparse_tensor"):
                    tensor(attr.sparse_tensor.values)
                    tensor(attr.sparse_tensor.indices)
                if attr.HasField("g"):
                    graph(attr.g)
                for sub in attr.graphs:
                    graph(sub)

    graph(model.graph)
    for fn in model.functions:
        for node in fn.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    tensor(attr.t)
    base = Path(path).parent
    what = f"{role} model {str(path)!r} external data"
    out: dict[str, Path] = {}
    for loc in sorted(locations):
        target = confined(base, loc, what=what)
        if target.exists():
            regular_file(target, what)
        out[loc] = target
    return out


def external_data_hashes(path: str | Path, *, role: str = "model") -> dict[str, str]:
    """sha256 of every external-data file of an ONNX model, keyed by its location.

    Only files inside the model's folder are ever opened (:func:`external_data_refs`);
    a location whose file is absent is left out (onnxruntime fails on it if it is used).
    """
    from kdaudit.hashing import file_sha256

    return {
        loc: file_sha256(p) for loc, p in external_data_refs(path, role=role).items() if p.is_file()
    }
