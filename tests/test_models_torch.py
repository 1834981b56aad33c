"""The torch adapter (state_dict, safetensors, trusted formats) and the logits-file adapter."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from kdaudit.errors import InputDataError, ModelLoadError, TrustError, UsageError
from kdaudit.models import ModelSpec, Preprocess, detect_format, load_model
from kdaudit.models.zoo import build_model


def _torch_out(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return module.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """A zoo 'mlp' on 6 features and 4 classes, saved as .pt state_dict and .safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("mlp")
    module = build_model("mlp", n_classes=4, input_shape=(6,)).eval()
    sd = module.state_dict()
    torch.save(sd, folder / "mlp.pt")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "mlp.safetensors"))
    torch.save({"epoch": 3, "state_dict": sd}, folder / "ckpt.pth")
    return module, folder


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """A zoo LeNet-5 for 1x28x28 inputs, as state_dict and as ONNX (legacy exporter: fast)."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("lenet")
    module = build_model("lenet5", n_classes=10, input_shape=(1, 28, 28)).eval()
    torch.save(module.state_dict(), folder / "lenet.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(2, 1, 28, 28),),
            str(folder / "lenet.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )
    return module, folder


def test_state_dict_with_zoo_arch(mlp, rng):
    module, folder = mlp
    x = rng.normal(size=(9, 6)).astype(np.float32)
    model = load_model(ModelSpec(str(folder / "mlp.pt"), arch="mlp"), device="cpu")
    assert model.format == "state_dict" and "torch" in sys.modules
    got = model.predict_batch(x)
    np.testing.assert_allclose(got, _torch_out(module, x), rtol=1e-6, atol=1e-6)
    assert model.n_classes == 4  # inferred from the weights
    assert not model.module.training


@pytest.mark.parametrize("name", ["mlp.safetensors", "ckpt.pth"])
def test_safetensors_and_checkpoint_dicts(mlp, rng, name):
    module, folder = mlp
    x = rng.normal(size=(5, 6)).astype(np.float64)
    model = load_model(ModelSpec(str(folder / name), arch="mlp", input_shape=(6,)), device="cpu")
    np.testing.assert_allclose(model.predict_batch(x), _torch_out(module, x), rtol=1e-6, atol=1e-6)


def test_onnx_and_torch_logits_agree(lenet, rng):
    module, folder = lenet
    images = rng.integers(0, 256, size=(16, 28, 28, 1)).astype(np.uint8)  # stored HWC
    pp = Preprocess(scale=1 / 255, transpose=(2, 0, 1), mean=0.5, std=0.25)
    onnx_model = load_model(ModelSpec(str(folder / "lenet.onnx"), preprocess=pp), device="cpu")
    torch_model = load_model(
        ModelSpec(str(folder / "lenet.pth"), arch="lenet5", preprocess=pp), device="cpu"
    )
    a = onnx_model.predict_batch(images)
    b = torch_model.predict_batch(images)  # input shape (1, 28, 28) inferred from the data
    assert a.shape == b.shape == (16, 10)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    hand = _torch_out(
        module, ((images.astype(np.float32) / 255 - 0.5) / 0.25).transpose(0, 3, 1, 2)
    )
    np.testing.assert_allclose(b, hand, rtol=1e-5, atol=1e-5)


def test_state_dict_needs_arch(mlp):
    with pytest.raises(UsageError, match="--arch"):
        load_model(ModelSpec(str(mlp[1] / "mlp.pt")), device="cpu")
    with pytest.raises(UsageError, match="Unknown built-in"):
        load_model(ModelSpec(str(mlp[1] / "mlp.pt"), arch="vgg99"), device="cpu")


def test_weights_that_do_not_fit_the_arch(lenet, rng):
    model = load_model(ModelSpec(str(lenet[1] / "lenet.pth"), arch="mlp"), device="cpu")
    with pytest.raises(ModelLoadError, match="do not fit"):
        model.predict_batch(rng.normal(size=(2, 784)))


USER_MODULE = """
import torch
def build(n_classes=3, input_shape=(6,)):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(input_shape[0], n_classes))
"""


def test_module_callable_arch_needs_trust_code(tmp_path, rng):
    user = tmp_path / "user_arch.py"
    user.write_text(USER_MODULE)
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    arch = f"{user}:build"
    with pytest.raises(TrustError, match="--trust-code"):
        load_model(ModelSpec(str(tmp_path / "w.pt"), arch=arch), device="cpu")
    model = load_model(
        ModelSpec(
            str(tmp_path / "w.pt"), arch=arch, trust_code=True, n_classes=3, input_shape=(6,)
        ),
        device="cpu",
    )
    x = rng.normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_allclose(model.predict_batch(x), _torch_out(net, x), rtol=1e-6, atol=1e-6)
    assert "arch_source_sha256" in model.identity()


class Evil:
    """Unpickling this creates a marker file (it must never happen without --trust-code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
@pytest.mark.parametrize("forced_format", [None, "state_dict"])
def test_pickle_never_runs_without_trust_code(tmp_path, writer, forced_format):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(Evil(marker)))
    else:
        torch.save(Evil(marker), path)
    assert detect_format(path) == "pickle"
    with pytest.raises(TrustError, match="--trust-code"):
        load_model(ModelSpec(str(path), format=forced_format, arch="mlp"), device="cpu")
    assert not marker.exists()


def test_pickled_module_needs_trust_code(tmp_path, rng):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    torch.save(net, tmp_path / "whole.pt")
    assert detect_format(tmp_path / "whole.pt") == "pickle"
    with pytest.raises(TrustError, match="--trust-code"):
        load_model(ModelSpec(str(tmp_path / "whole.pt")), device="cpu")
    model = load_model(ModelSpec(str(tmp_path / "whole.pt"), trust_code=True), device="cpu")
    x = rng.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict_batch(x), _torch_out(net, x), rtol=1e-6)


def test_torchscript_needs_trust_code(tmp_path, rng):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()).eval()
    torch.jit.script(net).save(str(tmp_path / "ts.pt"))
    assert detect_format(tmp_path / "ts.pt") == "torchscript"
    with pytest.raises(TrustError, match="TorchScript"):
        load_model(ModelSpec(str(tmp_path / "ts.pt")), device="cpu")
    model = load_model(ModelSpec(str(tmp_path / "ts.pt"), trust_code=True), device="cpu")
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict_batch(x), _torch_out(net, x), rtol=1e-6)


def test_torch_export_needs_trust_code(tmp_path, rng):
    (tmp_path / "fake.pt2").write_bytes(b"not even a zip")
    with pytest.raises(TrustError, match=r"torch\.export"):
        load_model(ModelSpec(str(tmp_path / "fake.pt2")), device="cpu")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2)).eval()
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(net, (torch.zeros(2, 3),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(tmp_path / "real.pt2"))
    model = load_model(ModelSpec(str(tmp_path / "real.pt2"), trust_code=True), device="cpu")
    x = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict_batch(x), _torch_out(net, x), rtol=1e-6)


def test_corrupt_torch_files(tmp_path, mlp):
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes((mlp[1] / "mlp.pt").read_bytes()[:100])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"hello, not a checkpoint")
    for path in (truncated, garbage):
        with pytest.raises(ModelLoadError, match=r"torch\.load") as info:
            load_model(ModelSpec(str(path), arch="mlp"), device="cpu")
        assert info.value.exit_code == 3
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(ModelSpec(str(bad), arch="mlp"), device="cpu")


def test_cuda_request_without_cuda_is_a_usage_error(mlp):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(UsageError, match="cuda") as info:
        load_model(ModelSpec(str(mlp[1] / "mlp.pt"), arch="mlp"), device="cuda")
    assert info.value.exit_code == 2


@pytest.mark.gpu
def test_cuda_matches_cpu(mlp, rng):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = rng.normal(size=(8, 6)).astype(np.float32)
    cpu = load_model(ModelSpec(str(mlp[1] / "mlp.pt"), arch="mlp"), device="cpu").predict_batch(x)
    gpu_model = load_model(ModelSpec(str(mlp[1] / "mlp.pt"), arch="mlp"), device="cuda")
    assert gpu_model.device_type == "cuda"
    np.testing.assert_allclose(gpu_model.predict_batch(x), cpu, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- logits files


def test_npy_logits_are_memory_mapped(tmp_path, rng):
    arr = rng.normal(size=(20, 3)).astype(np.float32)
    np.save(tmp_path / "t.npy", arr)
    model = load_model(ModelSpec(str(tmp_path / "t.npy")))
    assert model.is_logits_file and model.n_classes == 3 and model.format == "logits"
    logits = model.logits()
    assert isinstance(logits.shards[0], np.memmap)
    np.testing.assert_array_equal(logits.to_numpy(), arr)


def test_npz_logits_and_probs(tmp_path, rng):
    p = rng.dirichlet(np.ones(4), size=10)
    np.savez(tmp_path / "p.npz", logits=p)
    for outputs in ("probs", "auto"):
        logits = load_model(ModelSpec(str(tmp_path / "p.npz"), outputs=outputs)).logits()
        assert logits.kind == "log_probs"
        np.testing.assert_allclose(logits.probabilities(), p, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: np.savez(p, scores=np.zeros((3, 2))), "no array named 'logits'"),
        (lambda p: np.savez(p, logits=np.zeros(5)), "shape"),
        (lambda p: np.savez(p, logits=np.zeros((5, 1))), "n_classes >= 2"),
        (lambda p: p.write_bytes(b"PK\x03\x04garbage"), "Could not read"),
        (lambda p: np.savez(p, logits=np.array([[{"a": 1}, 2]], dtype=object)), "Could not read"),
    ],
)
def test_bad_logits_files(tmp_path, make, match):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(InputDataError, match=match):
        load_model(ModelSpec(str(path), role="student"))


def test_importing_kdaudit_models_does_not_import_torch():
    code = (
        "import sys, kdaudit.models, kdaudit.engine, kdaudit.models.preprocess;"
        "from kdaudit.models import load_model;"
        "bad = [m for m in ('torch', 'onnxruntime') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pickle_forced_as_state_dict_is_refused_as_untrusted(tmp_path):
    """--format state_dict on a pickle: weights_only refuses it; that is a trust refusal (exit 2)."""
    import pickle
    from pathlib import Path

    from kdaudit.errors import TrustError
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.loader import load_model

    marker = tmp_path / "PWNED"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(TrustError, match="--trust-code"):
        load_model(
            ModelSpec(
                path=str(tmp_path / "evil.pt"),
                format="state_dict",
                arch="mlp",
                input_shape=(4,),
                n_classes=2,
            )
        )
    assert not marker.exists()
