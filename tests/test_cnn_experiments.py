"""One cached CNN run (hashlib_nn.experiments): stored and reloaded identically, not trained
twice, and every metric equal to the same quantity computed directly from the package's parts.
Tiny synthetic images (1x12x12) and a quarter-width ResNet8: seconds."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import hashlib_nn.cnn as cnn_module
from hashlib_nn.categorization import knn_accuracy
from hashlib_nn.cnn import (
    CNNTrainConfig,
    build_cnn,
    encode,
    per_layer_redundancy,
    reduce_codes,
    train_cnn,
    varying_bits,
)
from hashlib_nn.data import Dataset
from hashlib_nn.experiments.config import CNNRunConfig, cnn_content_key, default_hflip
from hashlib_nn.experiments.evaluation import pixel_knn_accuracy
from hashlib_nn.experiments.presets import CNN_PRESETS, chapter_runs, lr_decay_every, str_list
from hashlib_nn.experiments.result import CNNCheckpoint, CNNRunResult
from hashlib_nn.experiments.runner import cnn_run
from hashlib_nn.experiments.store import CorruptEntryWarning, Store
from hashlib_nn.metrics import redundancy_ratio
from hashlib_nn.reports.cnn import bits_per_image, cnn_verdict

N_TRAIN, N_TEST = 64, 32
RUN = dict(n_train=N_TRAIN, n_test=N_TEST, epochs=1, seed=3, device="cpu", width_multiplier=0.25,
           bn_momentum=0.1, batch_size=16, reduction_bits=256)  # fmt: skip


def _images(seed: int = 0) -> Dataset:
    """80 training images (8 of the first 64 repeat earlier ones, so train RR >= 8/64 whatever
    the network) and 40 test images, 1x12x12, 10 classes."""
    rng = np.random.default_rng(seed)
    x_tr = rng.random((80, 1, 12, 12), dtype=np.float32)
    x_tr[56:64] = x_tr[:8]
    y_tr = np.arange(80) % 10
    y_tr[56:64] = y_tr[:8]
    return Dataset("tiny-images", x_tr, y_tr.astype(np.int64),
                   rng.random((40, 1, 12, 12), dtype=np.float32), np.arange(40) % 10,
                   (1, 12, 12), 10, tuple(str(i) for i in range(10)))  # fmt: skip


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _images()


@pytest.fixture(scope="module")
def stored(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[CNNRunResult, Path]:
    root = tmp_path_factory.mktemp("store")
    return cnn_run("resnet8", data, **RUN, store=root), root  # type: ignore[arg-type]


def _trained_like_the_run(data: Dataset) -> torch.nn.Module:
    """The run's network, trained again directly (seeded: the same weights on the CPU)."""
    model = build_cnn("resnet8", in_channels=1, n_classes=10, seed=3, width_multiplier=0.25)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    config = CNNTrainConfig(epochs=1, seed=3, batch_size=16, hflip=True)
    train_cnn(model, data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], config, device="cpu")
    return model


def test_stored_and_reloaded_identically(stored: tuple[CNNRunResult, Path], data: Dataset) -> None:
    first, root = stored
    assert not first.from_store
    path = root / "cnn" / f"{first.key}.json"
    assert path.is_file() and list(root.glob("*.json")) == []  # out of the MLP store's listing
    again = cnn_run("resnet8", data, **RUN, store=root)  # type: ignore[arg-type]
    assert again.from_store
    assert again.to_dict() == first.to_dict()
    assert json.loads(json.dumps(first.to_dict())) == first.to_dict()  # JSON numbers only


def test_second_call_does_not_train(stored: tuple[CNNRunResult, Path], data: Dataset,
                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _, root = stored

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained although the store holds the run")

    monkeypatch.setattr(cnn_module, "train_cnn", fail)
    assert cnn_run("resnet8", data, **RUN, store=root).from_store  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="trained although"):
        cnn_run("resnet8", data, **RUN, store=root, recompute=True)  # type: ignore[arg-type]


def test_metrics_at_initialization_match_direct_computation(
    stored: tuple[CNNRunResult, Path], data: Dataset
) -> None:
    result, _ = stored
    cp = result.at(0)
    model = build_cnn("resnet8", in_channels=1, n_classes=10, seed=3, width_multiplier=0.25)
    x_tr, x_te = data.x_train[:N_TRAIN], data.x_test[:N_TEST]  # the images trained on (defect 6)
    c_tr, c_te = encode(model, x_tr, device="cpu"), encode(model, x_te, device="cpu")
    assert cp.metrics["rr_train"] == redundancy_ratio(c_tr) >= 8 / N_TRAIN
    assert cp.metrics["rr_test"] == redundancy_ratio(c_te)
    assert cp.metrics["rr_train"] == (N_TRAIN - len(np.unique(c_tr.unpack(), axis=0))) / N_TRAIN
    assert cp.metrics["n_bits"] == c_tr.n_bits


def test_trained_metrics_match_direct_computation(
    stored: tuple[CNNRunResult, Path], data: Dataset
) -> None:
    result, _ = stored
    cp = result.final
    assert cp.epoch == 1 and result.epochs_run == 1
    model = _trained_like_the_run(data)
    x_tr, y_tr = data.x_train[:N_TRAIN], data.y_train[:N_TRAIN]
    x_te, y_te = data.x_test[:N_TEST], data.y_test[:N_TEST]
    c_tr, c_te = encode(model, x_tr, device="cpu"), encode(model, x_te, device="cpu")
    m = cp.metrics
    assert m["rr_train"] == redundancy_ratio(c_tr) and m["rr_test"] == redundancy_ratio(c_te)
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean()
    assert m["net_acc_test"] == pytest.approx(acc)
    # K-NN on the documented reduction: 256 of the bits varying over train and test, seed 0.
    among = varying_bits(c_tr, c_te)
    assert m["n_bits_varying"] == among.size
    r_tr = reduce_codes(c_tr, n_bits=256, seed=0, among=among)
    r_te = reduce_codes(c_te, n_bits=256, seed=0, among=among)
    assert m["knn_test"] == knn_accuracy(r_tr, y_tr, r_te, y_te, k=9, device="cpu")
    assert m["rr_reduced_train"] == redundancy_ratio(r_tr)
    # The per-layer table of the stored run is per_layer_redundancy of the codes.
    table = per_layer_redundancy(c_tr)
    rows = result.layers_frame().query("epoch == 1 and split == 'train'")
    assert rows["rr_prefix"].tolist() == table["rr_prefix"].tolist()
    assert rows["rr_layer"].tolist() == table["rr_layer"].tolist()
    assert rows["name"].tolist() == result.layer_names
    assert rows["rr_prefix"].iloc[-1] == m["rr_train"]


def test_frames_and_records(stored: tuple[CNNRunResult, Path]) -> None:
    result, _ = stored
    summary = result.summary(["rr_train", "knn_test", "net_acc_test"])
    assert summary["epoch"].tolist() == [0, 1]
    assert list(summary.columns) == ["epoch", "rr_train", "knn_test", "net_acc_test"]
    bits = result.bits_frame()
    train = bits.query("epoch == 1 and split == 'train'").sort_values("n_bits")
    assert train["n_bits"].iloc[-1] == result.final.metrics["n_bits_reduced"]
    assert np.all(np.diff(train["rr"]) <= 0)  # nested subsets: RR can only fall
    assert result.timings["train"] > 0 and result.timings["cpu_total"] > 0
    assert result.memory["peak_rss"] > 0 and result.memory["codes_train"] > 0
    assert len(result.history) == 1 and result.device == "cpu"


def test_content_key_follows_the_config(data: Dataset) -> None:
    base = CNNRunConfig("resnet8", "x", 64, 32, CNNTrainConfig(epochs=1))
    key = cnn_content_key(base)
    assert cnn_content_key(CNNRunConfig.from_dict(base.to_dict())) == key
    for change in (dict(n_train=63), dict(train=CNNTrainConfig(epochs=1, seed=1)),
                   dict(train=CNNTrainConfig(epochs=1, hflip=False)), dict(bn_momentum=0.1),
                   dict(reduction_bits=128), dict(data_fingerprint="0" * 64)):  # fmt: skip
        assert cnn_content_key(CNNRunConfig(**{**base.__dict__, **change})) != key


def test_other_data_under_the_same_name_is_another_run(
    stored: tuple[CNNRunResult, Path]
) -> None:
    first, root = stored
    other = cnn_run("resnet8", _images(seed=1), **{**RUN, "epochs": 0},  # type: ignore[arg-type]
                    store=root, metrics=("knn",))  # fmt: skip
    assert other.key != first.key and not other.from_store
    assert [c.epoch for c in other.checkpoints] == [0]


def test_a_damaged_entry_is_reported_and_recomputed(data: Dataset, tmp_path: Path) -> None:
    kw = {**RUN, "epochs": 0, "metrics": ()}
    first = cnn_run("resnet8", data, **kw, store=tmp_path)  # type: ignore[arg-type]
    path = tmp_path / "cnn" / f"{first.key}.json"
    path.write_text(path.read_text().replace('"rr_train"', '"rr_trainX"'))
    with pytest.warns(CorruptEntryWarning, match="checksum"):
        again = cnn_run("resnet8", data, **kw, store=tmp_path)  # type: ignore[arg-type]
    assert not again.from_store and path.is_file()
    assert (tmp_path / "cnn" / f"{first.key}.json.corrupt").is_file()
    assert again.checkpoints[0].metrics == first.checkpoints[0].metrics
    assert Store(tmp_path).results() == []  # the MLP store neither lists nor quarantines it


def test_an_entry_of_another_schema_is_left_in_place(data: Dataset, tmp_path: Path) -> None:
    """The CNN runs' entries are read by the store's own reader
    (hashlib_nn.experiments.store.read_entry)."""
    kw = {**RUN, "epochs": 0, "metrics": ()}
    first = cnn_run("resnet8", data, **kw, store=tmp_path)  # type: ignore[arg-type]
    path = tmp_path / "cnn" / f"{first.key}.json"
    entry = json.loads(path.read_text())
    entry["schema"] = 999
    path.write_text(json.dumps(entry))
    message = f"CNN store entry {path} is intact but has schema 999; this version reads 1"
    with pytest.warns(CorruptEntryWarning, match=re.escape(message)):
        again = cnn_run("resnet8", data, **kw, store=tmp_path)  # type: ignore[arg-type]
    assert not again.from_store and not path.with_name(path.name + ".corrupt").exists()


def test_no_store(data: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHLIB_NN_STORE", str(tmp_path))
    cnn_run("resnet8", data, **{**RUN, "epochs": 0, "metrics": ()}, store=False)  # type: ignore
    assert not (tmp_path / "cnn").exists()


@pytest.mark.parametrize(("kw", "match"), [
    (dict(model_name="resnet9"), "unknown CNN 'resnet9'"),
    (dict(n_train=81), "n_train=81 but tiny-images has 80"),
    (dict(checkpoints=(0, 2)), r"checkpoints must lie in \[0, epochs=1\]"),
    (dict(metrics=("knn", "svm")), "metrics must be a subset"),
])  # fmt: skip
def test_errors_name_what_was_passed(data: Dataset, kw: dict, match: str) -> None:
    args = {**RUN, "model_name": "resnet8", **kw}
    with pytest.raises(ValueError, match=match):
        cnn_run(dataset=data, store=False, **args)  # type: ignore[arg-type]


def test_named_data_sets_are_checked_before_loading() -> None:
    with pytest.raises(ValueError, match="n_train=40001 but cifar10 has 40000"):
        cnn_run("resnet20", "cifar10", n_train=40_001, store=False)
    with pytest.raises(ValueError, match="dataset must be one of"):
        cnn_run("resnet20", "svhn", store=False)


def test_presets_and_schedule() -> None:
    assert lr_decay_every(200) == 50 and lr_decay_every(4) == 1 and lr_decay_every(1) == 1
    (quick,) = chapter_runs("quick")
    assert quick["model_name"] == "resnet8" and quick["dataset"] == "fashion-mnist"
    assert quick["checkpoints"] == (0, quick["epochs"]) and quick["bn_momentum"] == 0.1
    (std,) = chapter_runs("standard")
    assert (std["model_name"], std["n_train"], std["epochs"], std["lr_decay_every"]) == (
        "resnet20", None, 200, 50)
    assert std["bn_momentum"] is None  # Keras' momentum, as the original
    assert [r["model_name"] for r in chapter_runs("paper")] == list(CNN_PRESETS["paper"].models)
    runs = chapter_runs("quick", model="[resnet20, vgg16]", epochs=3, n_train=100)
    assert [r["model_name"] for r in runs] == ["resnet20", "vgg16"]
    assert runs[0]["checkpoints"] == (0, 3) and runs[0]["n_train"] == 100
    with pytest.raises(ValueError, match="preset must be one of"):
        chapter_runs("huge")
    assert default_hflip("fashion-mnist") and default_hflip("cifar10")
    assert not default_hflip("mnist")


@pytest.mark.parametrize("model", [
    "[resnet20, vgg16]", "['resnet20', 'vgg16']", "resnet20, vgg16", ["resnet20", " vgg16"],
    ("resnet20", "vgg16"),
])  # fmt: skip
def test_chapter_runs_parses_models_as_the_chapters_parse_lists(model: object) -> None:
    """One parser (hashlib_nn.experiments.presets.str_list) for the CNN chapter's models and the
    chapters'
    list parameters; a bad value is refused with what would be accepted."""
    assert str_list(model) == ("resnet20", "vgg16")
    runs = chapter_runs("smoke", model=model)  # type: ignore[arg-type]
    assert [r["model_name"] for r in runs] == ["resnet20", "vgg16"]
    assert [r["model_name"] for r in chapter_runs("smoke", model="vgg16")] == ["vgg16"]
    with pytest.raises(ValueError, match=re.escape("a list of names such as '[resnet20, vgg16]'; "
                                                   "got [1]")):  # fmt: skip
        chapter_runs("smoke", model=[1])  # type: ignore[list-item]


def test_bits_per_image_matches_the_cnn_module() -> None:
    table = bits_per_image(["resnet20"], ["cifar10", "fashion-mnist"])
    cifar, fashion = table["bits_per_image"].tolist()
    assert cifar == 188_416  # hashlib_nn.cnn's docstring: 188,416 bits per CIFAR-10 image
    assert fashion == 16 * 28 * 28 * 7 + 32 * 14 * 14 * 6 + 64 * 7 * 7 * 6
    assert table["packed_kib_per_image"].iloc[0] == 188_416 / 8 / 1024


def _result(*metrics: dict[str, float]) -> CNNRunResult:
    checkpoints = [CNNCheckpoint(e, {"n_bits_reduced": 4096.0, **m}, [], [], {})
                   for e, m in zip((0, 200), metrics, strict=False)]  # fmt: skip
    config = CNNRunConfig("resnet20", "fashion-mnist", 48000, 10000, CNNTrainConfig())
    return CNNRunResult(config, cnn_content_key(config), checkpoints, [], 200, None, "cpu", {},
                        {}, [], {}, "")  # fmt: skip


INIT = {"rr_train": 0.0, "rr_test": 0.0, "knn_test": 0.8, "net_acc_test": 0.1}


@pytest.mark.parametrize(("final", "status"), [
    ({"rr_train": 0.0, "rr_test": 0.0, "knn_test": 0.91, "net_acc_test": 0.93}, "reproduced"),
    ({"rr_train": 0.0, "rr_test": 0.05, "knn_test": 0.95, "net_acc_test": 0.93}, "reproduced"),
    ({"rr_train": 0.0, "rr_test": 0.0, "knn_test": 0.85, "net_acc_test": 0.93},
     "partly reproduced"),
    ({"rr_train": 0.0, "rr_test": 0.0, "knn_test": 0.83, "net_acc_test": 0.74},
     "partly reproduced"),
    ({"rr_train": 0.2, "rr_test": 0.0, "knn_test": 0.92, "net_acc_test": 0.93},
     "partly reproduced"),
    ({"rr_train": 0.2, "rr_test": 0.0, "knn_test": 0.5, "net_acc_test": 0.93}, "not reproduced"),
    ({"rr_train": 0.0, "rr_test": 0.0, "knn_test": 0.7, "net_acc_test": 0.93}, "not reproduced"),
])  # fmt: skip
def test_verdict_rule(final: dict[str, float], status: str) -> None:
    verdict = cnn_verdict(_result(INIT, final))
    assert verdict.status == status, verdict
    assert verdict.numbers["gap"] == pytest.approx(final["net_acc_test"] - final["knn_test"])
    assert "Untrained (epoch 0)" in verdict.evidence


def test_verdict_needs_a_trained_checkpoint_with_knn() -> None:
    assert cnn_verdict(_result(INIT)).status == "not tested"
    no_knn = {"rr_train": 0.0, "rr_test": 0.0, "net_acc_test": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cnn_verdict(_result(INIT, no_knn)).status == "not tested"


def test_pixel_knn_baseline_is_knn_on_the_same_images(data: Dataset) -> None:
    x_tr = data.x_train[:N_TRAIN].reshape(N_TRAIN, -1)
    x_te = data.x_test[:N_TEST].reshape(N_TEST, -1)
    d = ((x_te[:, None, :] - x_tr[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :9]
    votes = np.stack([np.bincount(row, minlength=10) for row in data.y_train[nearest]])
    expected = (votes.argmax(1) == data.y_test[:N_TEST]).mean()
    assert pixel_knn_accuracy(data, N_TRAIN, N_TEST) == pytest.approx(expected)
