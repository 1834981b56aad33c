"""The trainer: recipe equivalence, determinism, init-from-teacher, iterative KD, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdaudit.errors import UsageError
from kdaudit.models.zoo import build_model
from kdaudit.train.trainer import (
    Recipe,
    TeacherModel,
    TrainData,
    apply_preprocess,
    augment_batch,
    copy_matching,
    run_training,
    train_model,
    trifeature_data,
)


@pytest.fixture(scope="module")
def tiny() -> TrainData:
    torch.set_num_threads(1)
    return trifeature_data(n_train=160, n_eval=64, color_shape_correlation=0.5, seed=3)


@pytest.fixture(scope="module")
def tiny_teacher(tiny: TrainData) -> TeacherModel:
    trained = train_model(
        tiny, Recipe(arch="lenet5", epochs=1, batch_size=32), role="teacher", seed=9
    )
    return TeacherModel(module=trained.module, name="t")


def _state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = _state(a), _state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


RECIPE = Recipe(arch="lenet5", epochs=2, batch_size=32, lr=0.05)


def test_baseline_equals_student_with_zero_soft_weight(
    tiny: TrainData, tiny_teacher: TeacherModel
) -> None:
    base = train_model(tiny, RECIPE, role="baseline", seed=1)
    stud = train_model(
        tiny, RECIPE, role="student", seed=1, teacher=tiny_teacher, temperature=4.0, soft_weight=0.0
    )
    assert _equal(base.module, stud.module)
    kd = train_model(
        tiny, RECIPE, role="student", seed=1, teacher=tiny_teacher, temperature=4.0, soft_weight=0.9
    )
    assert not _equal(base.module, kd.module)


def test_same_seed_same_weights_other_seed_differs(
    tiny: TrainData, tiny_teacher: TeacherModel
) -> None:
    a = train_model(
        tiny, RECIPE, role="student", seed=2, teacher=tiny_teacher, temperature=2, soft_weight=0.9
    )
    b = train_model(
        tiny, RECIPE, role="student", seed=2, teacher=tiny_teacher, temperature=2, soft_weight=0.9
    )
    c = train_model(
        tiny, RECIPE, role="student", seed=3, teacher=tiny_teacher, temperature=2, soft_weight=0.9
    )
    assert _equal(a.module, b.module)
    assert not _equal(a.module, c.module)
    assert a.metrics["eval_accuracy"] == b.metrics["eval_accuracy"]
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run


def test_cached_teacher_logits_computed_once(tiny: TrainData) -> None:
    teacher = train_model(
        tiny, Recipe(arch="lenet5", epochs=1, batch_size=32), role="teacher", seed=0
    )
    calls = {"n": 0}
    tm = TeacherModel(module=teacher.module)
    original = tm.logits

    def counting(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return original(x)

    tm.logits = counting  # type: ignore[method-assign]
    for temp in (1.0, 4.0):
        train_model(
            tiny, RECIPE, role="student", seed=0, teacher=tm, temperature=temp, soft_weight=0.5
        )
    n_batches = int(np.ceil(tiny.x.shape[0] / 256))
    assert calls["n"] == n_batches  # once for the training set, reused for both temperatures
    calls["n"] = 0
    aug = Recipe(arch="lenet5", epochs=1, batch_size=32, augment=True)
    train_model(tiny, aug, role="student", seed=0, teacher=tm, temperature=4.0, soft_weight=0.5)
    assert calls["n"] == int(np.ceil(tiny.x.shape[0] / 32))  # online: once per step


def test_init_from_teacher_copies_only_matching_tensors() -> None:
    src = build_model(
        "mlp", n_classes=3, input_shape=(10,)
    )  # net.0 (64x10), net.2 (32x64), net.4 (3x32)
    dst = build_model("mlp-small", n_classes=3, input_shape=(10,))  # net.0 (8x10), net.2 (3x8)
    same = build_model("mlp", n_classes=3, input_shape=(10,))
    before = _state(dst)
    report = copy_matching(src, dst)
    assert report["copied"] == []
    assert {m["name"] for m in report["shape_mismatch"]} == {
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
    }
    assert all(torch.equal(before[k], v) for k, v in _state(dst).items())
    report = copy_matching(src, same)
    assert report["n_copied"] == report["n_target"] == 6
    assert _equal(src, same)
    # partial: a wider classifier head keeps its own head, takes the body
    other = build_model("mlp", n_classes=5, input_shape=(10,))
    report = copy_matching(src, other)
    assert set(report["copied"]) == {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}
    assert torch.equal(other.state_dict()["net.0.weight"], src.state_dict()["net.0.weight"])


def test_init_from_teacher_in_run_training(tiny: TrainData) -> None:
    teacher = train_model(
        tiny, Recipe(arch="lenet5", epochs=1, batch_size=32), role="teacher", seed=0
    )
    tm = TeacherModel(module=teacher.module)
    (man,) = run_training(
        tiny,
        RECIPE,
        role="student",
        out_dir=None,
        temperatures=(2.0,),
        teacher=tm,
        init_from_teacher=True,
    )
    assert man["init_from_teacher"]["n_copied"] == man["init_from_teacher"]["n_target"] == 10


def test_iterative_kd_runs_g_generations(tiny: TrainData, tiny_teacher: TeacherModel) -> None:
    recipe = Recipe(arch="lenet5", epochs=1, batch_size=32)
    mans = run_training(
        tiny,
        recipe,
        role="student",
        out_dir=None,
        temperatures=(4.0,),
        teacher=tiny_teacher,
        iterations=3,
    )
    assert [m["generation"] for m in mans] == [1, 2, 3]
    assert [m["name"] for m in mans] == [
        "student_T4_seed0_gen1",
        "student_T4_seed0_gen2",
        "student_T4_seed0_gen3",
    ]
    assert mans[0]["teacher"]["name"] == "t"
    assert mans[1]["teacher"]["name"] == "student_T4_seed0_gen1"
    assert mans[2]["teacher"]["name"] == "student_T4_seed0_gen2"


def test_temperature_sweep_and_seeds(tiny: TrainData, tiny_teacher: TeacherModel) -> None:
    recipe = Recipe(arch="lenet5", epochs=1, batch_size=32)
    mans = run_training(
        tiny,
        recipe,
        role="student",
        out_dir=None,
        temperatures=(1.0, 4.0),
        seeds=(0, 1),
        teacher=tiny_teacher,
        soft_weight=0.7,
    )
    assert [(m["seed"], m["temperature"]) for m in mans] == [(0, 1.0), (0, 4.0), (1, 1.0), (1, 4.0)]
    assert mans[1]["effective_weights"]["soft"] == pytest.approx(0.7 * 16)
    assert mans[1]["effective_weights"]["hard"] == pytest.approx(0.3)


def test_augment_batch_crops_and_flips() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = augment_batch(x, g, padding=0)
    for i in range(2):  # padding 0: either the image or its mirror
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    out = augment_batch(x, torch.Generator().manual_seed(1), padding=2)
    assert out.shape == x.shape
    a = augment_batch(x, torch.Generator().manual_seed(5), padding=2)
    b = augment_batch(x, torch.Generator().manual_seed(5), padding=2)
    assert torch.equal(a, b)


def test_apply_preprocess_matches_manual() -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    spec = {
        "scale": 1 / 255,
        "transpose": [2, 0, 1],
        "mean": [0.1, 0.2, 0.3],
        "std": [0.5, 0.25, 2.0],
    }
    got = apply_preprocess(x, spec)
    ref = (x.astype(np.float32) / 255).transpose(0, 3, 1, 2)
    ref = (ref - np.array([0.1, 0.2, 0.3], np.float32)[None, :, None, None]) / np.array(
        [0.5, 0.25, 2.0], np.float32
    )[None, :, None, None]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32 and got.shape == (4, 3, 5, 6)
    flat = apply_preprocess(x, {"reshape": [90]})
    assert flat.shape == (4, 90)


def test_bad_inputs_raise(tiny: TrainData) -> None:
    with pytest.raises(UsageError):
        Recipe(arch="lenet5", epochs=0)
    with pytest.raises(UsageError, match="teacher"):
        train_model(tiny, RECIPE, role="student", temperature=2, soft_weight=0.5)
    with pytest.raises(UsageError):
        train_model(tiny, RECIPE, role="professor")
    with pytest.raises(UsageError):
        run_training(tiny, RECIPE, role="student", out_dir=None, teacher=None, soft_weight=0.9)


def test_tabular_training_learns(tmp_path) -> None:
    from kdaudit.data.tabular import make_tabular

    arr = make_tabular(1200, seed=0)
    x, y = arr["x"], arr["y"]
    data = TrainData(x=x[:800], y=y[:800], eval_x=x[800:], eval_y=y[800:], spec="tabular")
    (man,) = run_training(
        data,
        Recipe(arch="mlp", epochs=5, batch_size=64, lr=0.05),
        role="baseline",
        out_dir=tmp_path,
    )
    assert man["metrics"]["eval_accuracy"] > 0.7
    assert (tmp_path / "baseline_seed0.onnx").is_file()


def test_teacher_logits_from_the_logit_cache(tmp_path, tiny: TrainData) -> None:
    from kdaudit.engine.cache import LogitCache
    from kdaudit.train.trainer import load_teacher

    run_training(
        tiny, Recipe(arch="lenet5", epochs=1, batch_size=32), role="teacher", out_dir=tmp_path
    )
    cache = LogitCache(tmp_path / "cache")
    teacher = load_teacher(tmp_path / "teacher_seed0.json")
    cached = teacher.train_logits(tiny, device=torch.device("cpu"), cache=cache)
    assert teacher.logits_source == "logit_cache"
    direct = load_teacher(tmp_path / "teacher_seed0.json")
    computed = direct.train_logits(tiny, device=torch.device("cpu"))
    assert direct.logits_source == "computed_once"
    torch.testing.assert_close(cached, computed, rtol=0, atol=1e-5)
    again = load_teacher(tmp_path / "teacher_seed0.json").train_logits(
        tiny, device=torch.device("cpu"), cache=cache
    )
    assert torch.equal(again, cached)
    assert len(cache.entries()) == 1
