"""The paper's CNNs, their training protocol and packed-code tools (hashlib_nn.cnn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hashlib_nn.cnn import (
    CNN_NAMES,
    CNNTrainConfig,
    ResNet,
    _Augmented,
    augment_batch,
    build_cnn,
    code_layout,
    encode,
    per_layer_redundancy,
    random_bit_positions,
    reduce_codes,
    select_bits,
    take_bits,
    train_cnn,
    transform_batch,
    varying_bits,
)
from hashlib_nn.codes import NeuralCodes, neural_codes, relu_modules
from hashlib_nn.metrics import redundancy_ratio
from hashlib_nn.train import l2_parameters

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
SHAPES = [(1, 28, 28), (3, 32, 32)]


@pytest.fixture(scope="module")
def vgg16() -> nn.Module:
    return build_cnn("vgg16")


def _small(name: str, in_channels: int = 3) -> nn.Module:
    """The architecture at a quarter of the width: same layers, fast to build and run."""
    return build_cnn(name, in_channels=in_channels, width_multiplier=0.25)


# ---------------------------------------------------------------- architectures


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CNN_NAMES)
def test_every_model_gives_logits_for_mnist_and_cifar_shapes(name: str, shape: tuple) -> None:
    model = _small(name, shape[0]).eval()
    with torch.no_grad():
        out = model(torch.rand(2, *shape))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "expected"), [
    # He et al.'s 0.27M / 0.46M / 0.85M ("option A" shortcuts: 269,722 / 464,154 / 853,018) plus
    # the original's two projection shortcuts: 16*32 + 32*64 weights + 2*(32 + 64) BN = 2,752.
    ("resnet20", 269_722 + 2_752),
    ("resnet32", 464_154 + 2_752),
    ("resnet56", 853_018 + 2_752),
    ("resnet18", 11_173_962),  # the usual CIFAR ResNet18 (kuangliu/pytorch-cifar)
    ("resnet8", 78_042),  # ours (n = 1), by the same count
])
def test_parameter_counts(name: str, expected: int) -> None:
    assert sum(p.numel() for p in build_cnn(name).parameters()) == expected


def test_vgg16_parameter_count_derived_by_hand(vgg16: nn.Module) -> None:
    cfg = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    c_in, conv = 3, 0
    for c in cfg:  # 3x3 kernel + bias, then BN gamma and beta
        conv += 9 * c_in * c + c + 2 * c
        c_in = c
    fc = 2 * (512 * 512 + 512 + 2 * 512) + 512 * 10 + 10  # two Linear+BN blocks, classifier
    assert conv == 14_714_688 + 8_448  # 14.7M conv weights and biases + BN
    assert sum(p.numel() for p in vgg16.parameters()) == conv + fc == 15_255_626


def _hand_bits(name: str, c: int, h: int, w: int) -> int:
    """Code length from the architecture: sum of C*H*W over ReLU outputs."""
    if name.startswith("vgg"):
        per_block = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}[name]
        bits = 0
        for n_convs, ch in zip(per_block, (64, 128, 256, 512, 512), strict=True):
            bits += n_convs * ch * h * w
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        return bits + 2 * 512
    widths, n = {"resnet18": ((64, 128, 256, 512), 2), "resnet20": ((16, 32, 64), 3),
                 "resnet32": ((16, 32, 64), 5), "resnet56": ((16, 32, 64), 9),
                 "resnet8": ((16, 32, 64), 1)}[name]
    bits = widths[0] * h * w  # stem
    for i, ch in enumerate(widths):
        if i:
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        bits += n * 2 * ch * h * w  # two ReLUs per BasicBlock
    return bits


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["resnet8", "resnet20", "resnet32", "resnet56", "resnet18",
                                  "vgg19"])
def test_code_length_is_the_sum_of_relu_output_sizes(name: str, shape: tuple) -> None:
    layout = code_layout(build_cnn(name, in_channels=shape[0]), shape)
    assert sum(layer.n_bits for layer in layout) == _hand_bits(name, *shape)


def test_code_lengths_on_cifar_by_hand(vgg16: nn.Module) -> None:
    vgg = sum(x.n_bits for x in code_layout(vgg16, (3, 32, 32)))
    assert vgg == 2 * 64 * 1024 + 2 * 128 * 256 + 3 * 256 * 64 + 3 * 512 * 16 + 3 * 512 * 4 + 1024
    assert vgg == 277_504
    r20 = code_layout(build_cnn("resnet20"), (3, 32, 32))
    assert len(r20) == 19 and sum(x.n_bits for x in r20) == 7 * 16384 + 6 * 8192 + 6 * 4096
    codes = _codes(build_cnn("resnet8"), torch.rand(3, 3, 32, 32))
    assert codes.n_bits == 73_728 and codes.layer_sizes == (16384,) * 3 + (8192,) * 2 + (4096,) * 2


@pytest.mark.parametrize("name", CNN_NAMES)
def test_each_relu_module_fires_once_per_forward(name: str) -> None:
    model = _small(name).eval()
    relus = relu_modules(model)
    counts = {id(r): 0 for r in relus}

    def hook(m: nn.Module, i: tuple, o: torch.Tensor) -> None:
        counts[id(m)] += 1

    handles = [r.register_forward_hook(hook) for r in relus]
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    for h in handles:
        h.remove()
    assert all(v == 1 for v in counts.values())
    assert len(code_layout(model, (3, 32, 32))) == len(relus)
    assert not any(r.inplace for r in relus)


def test_kernels_under_l2_follow_the_original() -> None:
    r20 = build_cnn("resnet20")
    kernels = {id(p) for p in l2_parameters(r20)}
    convs = [m for m in r20.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 21 and len(kernels) == 19  # not the 2 projection shortcuts
    assert id(r20.classifier.weight) not in kernels
    vgg = _small("vgg16")
    assert len(l2_parameters(vgg)) == 13 + 2 and id(vgg.classifier.weight) not in {
        id(p) for p in l2_parameters(vgg)}


def _resnet(name: str, **kw: object) -> ResNet:
    model = build_cnn(name, **kw)  # type: ignore[arg-type]
    assert isinstance(model, ResNet)
    return model


def _codes(model: nn.Module, x: torch.Tensor) -> NeuralCodes:
    codes = neural_codes(model, x, device="cpu")
    assert isinstance(codes, NeuralCodes)
    return codes


def test_keras_and_torch_initialization() -> None:
    keras = _resnet("resnet20", seed=3)
    stem = keras.stem[0].weight
    limit = math.sqrt(6 / (3 * 9 + 16 * 9))  # Glorot-uniform, fans include the receptive field
    assert stem.abs().max() <= limit and stem.abs().max() > 0.9 * limit
    assert keras.stem[1].eps == 1e-3 and keras.stem[1].momentum == 0.01
    torch_init = _resnet("resnet20", seed=3, init="torch")
    assert torch_init.stem[1].eps == 1e-5 and torch_init.stem[1].momentum == 0.1
    again = _resnet("resnet20", seed=3)
    other = _resnet("resnet20", seed=4)
    for a, b in zip(keras.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(keras.stem[0].weight, other.stem[0].weight)
    assert torch.equal(_resnet("resnet8", init="torch", seed=1).stem[0].weight,
                       _resnet("resnet8", init="torch", seed=1).stem[0].weight)


def test_build_errors() -> None:
    with pytest.raises(ValueError, match=r"^unknown CNN 'resnet50'; accepted names: 'vgg16', "
                       r"'vgg19', 'resnet8', 'resnet18', 'resnet20', 'resnet32', 'resnet56'$"):
        build_cnn("resnet50")
    with pytest.raises(ValueError, match=r"^in_channels must be a positive integer; got 0$"):
        build_cnn("resnet20", in_channels=0)
    with pytest.raises(ValueError, match=r"^init must be 'keras' or 'torch'; got 'he'$"):
        build_cnn("resnet20", init="he")  # type: ignore[arg-type]


def test_wrong_input_shapes_name_what_was_expected() -> None:
    model = build_cnn("resnet20")
    msg = r"^resnet20 expects images of shape \(N, 3, H, W\) \(in_channels=3\); got shape "
    with pytest.raises(ValueError, match=msg + r"\(2, 1, 28, 28\)$"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=msg + r"\(2, 3072\) \(flattened images\? load them with "
                       r"load_dataset\(name, flatten=False\)\)$"):
        model(torch.rand(2, 3072))


# ---------------------------------------------------------------- augmentation


def _params(n: int, angle: float = 0.0, sx: float = 0.0, sy: float = 0.0, flip: bool = False):
    return (torch.full((n,), angle), torch.full((n,), sx), torch.full((n,), sy),
            torch.full((n,), flip))


def test_no_rotation_no_shift_no_flip_is_identity() -> None:
    x = torch.rand(4, 3, 8, 8)
    assert augment_batch(x, rotation=0, shift=0, hflip=False) is x
    assert torch.allclose(transform_batch(x, *_params(4)), x, atol=1e-6)


def test_flip_rotation_and_shift_against_exact_oracles() -> None:
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(transform_batch(x, *_params(2, flip=True)), x.flip(-1), atol=1e-6)
    # 90 degrees on a square image moves pixel centres onto pixel centres: anticlockwise.
    assert torch.allclose(transform_batch(x, *_params(2, angle=90)), torch.rot90(x, 1, (-2, -1)),
                          atol=1e-6)
    # A shift of one pixel: content moves left, the edge column is repeated (fill "nearest").
    s = transform_batch(x, *_params(2, sx=1 / 8))
    assert torch.allclose(s[..., :-1], x[..., 1:], atol=1e-6)
    assert torch.allclose(s[..., -1], x[..., -1], atol=1e-6)


def test_rotation_is_in_pixel_units_on_non_square_images() -> None:
    h, w, angle = 12, 20, 30.0
    py, px = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2,
                            indexing="ij")
    ramp = px.expand(1, 1, h, w).clone()  # value = x coordinate in pixels from the centre
    out = transform_batch(ramp, *_params(1, angle=angle))[0, 0]
    a = math.radians(angle)
    expected = math.cos(a) * px - math.sin(a) * py  # bilinear is exact on a linear function
    inside = (slice(4, 8), slice(6, 14))  # rotated sample points stay inside the image
    assert torch.allclose(out[inside], expected[inside], atol=1e-4)


def test_augmentation_is_seeded_and_flips_about_half() -> None:
    x = torch.rand(200, 1, 6, 6)
    gen = torch.Generator().manual_seed(1)
    a = augment_batch(x, rotation=0, shift=0, hflip=True, generator=gen)
    flipped = (a == x.flip(-1)).flatten(1).all(1)
    kept = (a == x).flatten(1).all(1)
    assert (flipped | kept).all() and 60 < int(flipped.sum()) < 140
    b = augment_batch(x, generator=torch.Generator().manual_seed(7))
    c = augment_batch(x, generator=torch.Generator().manual_seed(7))
    d = augment_batch(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(b, c) and not torch.equal(b, d)


# ---------------------------------------------------------------- training


def _brightness_task(n: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 images are brighter than class 0 images: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.5 + 0.5 * y.view(-1, 1, 1, 1)
    return x.numpy(), y.numpy()


def test_cnn_config_is_the_original_protocol() -> None:
    c = CNNTrainConfig()
    assert (c.lr, c.lr_decay, c.lr_decay_every, c.epochs, c.batch_size) == (1e-2, 0.1, 50, 200, 64)
    assert (c.weight_decay, c.eps, c.rotation, c.shift, c.hflip, c.augment) == (
        5e-6, 1e-7, 15.0, 0.1, True, True)
    with pytest.raises(ValueError, match=r"^shift must be a fraction in \[0, 1\); got 1.5$"):
        CNNTrainConfig(shift=1.5)


def test_train_cnn_learns_a_trivial_task_reproducibly() -> None:
    x, y = _brightness_task()
    seen: list[tuple[int, nn.Module]] = []
    models = []
    for _ in range(2):
        model = build_cnn("resnet8", in_channels=1, n_classes=2, width_multiplier=0.25)
        hist = train_cnn(model, x, y, CNNTrainConfig(epochs=3, batch_size=32), device="cpu",
                         checkpoints=[1], on_checkpoint=lambda e, m: seen.append((e, m)))
        models.append(model)
    assert hist.epochs_run == 3 and hist.epochs[-1].loss < hist.epochs[0].loss
    assert hist.epochs[-1].accuracy > 0.9
    assert [e for e, _ in seen] == [1, 3, 1, 3] and seen[0][1] is models[0]
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_train_cnn_one_epoch_and_errors() -> None:
    x, y = _brightness_task(n=33)
    model = build_cnn("vgg16", in_channels=1, n_classes=2, width_multiplier=0.0625)
    hist = train_cnn(model, x[:32], y[:32], CNNTrainConfig(epochs=1, batch_size=16), device="cpu")
    assert hist.epochs_run == 1 and math.isfinite(hist.epochs[0].loss)
    with pytest.raises(ValueError, match=r"^33 examples in batches of 16 leave a last batch of "):
        train_cnn(model, x, y, CNNTrainConfig(epochs=1, batch_size=16), device="cpu")
    with pytest.raises(ValueError, match=r"^train_cnn expects images \(N, C, H, W\); got shape "
                       r"\(32, 64\)"):
        train_cnn(model, x[:32].reshape(32, -1), y[:32], CNNTrainConfig(epochs=1), device="cpu")
    with pytest.raises(TypeError, match=r"^config must be a CNNTrainConfig; got TrainConfig$"):
        from hashlib_nn.train import TrainConfig

        train_cnn(model, x, y, TrainConfig(), device="cpu")  # type: ignore[arg-type]


def test_augmentation_wrapper_is_inert_in_eval_mode() -> None:
    model = _small("resnet8").eval()
    wrapped = _Augmented(model, CNNTrainConfig()).eval()
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(wrapped(x), model(x))
    assert [id(p) for p in l2_parameters(wrapped)] == [id(p) for p in l2_parameters(model)]


# ---------------------------------------------------------------- packed codes at scale


def _random_codes(n: int, n_bits: int, layer_sizes: tuple[int, ...] = (), seed: int = 0,
                  p: float = 0.5) -> NeuralCodes:
    bits = (np.random.default_rng(seed).random((n, n_bits)) < p).astype(np.uint8)
    return NeuralCodes.from_bits(bits, layer_sizes)


def test_select_bits_equals_unpack_then_slice() -> None:
    codes = _random_codes(7, 29, (5, 11, 13))
    bits = codes.unpack()
    for start in range(29):
        for stop in range(start + 1, 30):
            got = select_bits(codes, start, stop, chunk_rows=3)
            assert got.n_bits == stop - start
            np.testing.assert_array_equal(got.packed, np.packbits(bits[:, start:stop], axis=1))
    assert select_bits(codes, 3, 20).layer_sizes == (2, 11, 4)
    for i in range(3):
        np.testing.assert_array_equal(reduce_codes(codes, "layer", layer=i).packed,
                                      codes.layer(i).packed)
    with pytest.raises(ValueError, match=r"^need 0 <= start < stop <= n_bits=29; got start=4, "
                       r"stop=4$"):
        select_bits(codes, 4, 4)


def test_take_bits_random_positions_and_reduce_codes() -> None:
    codes = _random_codes(9, 300)
    pos = random_bit_positions(300, 40, seed=5)
    assert pos.size == 40 and np.all(np.diff(pos) > 0)
    np.testing.assert_array_equal(random_bit_positions(300, 40, seed=5), pos)
    assert not np.array_equal(random_bit_positions(300, 40, seed=6), pos)
    got = take_bits(codes, pos, chunk_rows=2)
    np.testing.assert_array_equal(got.unpack(), codes.unpack()[:, pos])
    red = reduce_codes(codes, n_bits=40, seed=5)
    np.testing.assert_array_equal(red.packed, got.packed)
    assert reduce_codes(codes, n_bits=1000).n_bits == 300  # fewer bits than asked: all of them
    with pytest.raises(ValueError, match=r"^method must be 'random_bits' or 'layer'; got 'pca'$"):
        reduce_codes(codes, "pca")  # type: ignore[arg-type]


def test_varying_bits_over_train_and_test() -> None:
    train = _random_codes(20, 50, seed=1, p=0.9)
    test = _random_codes(5, 50, seed=2, p=0.9)
    both = np.concatenate([train.unpack(), test.unpack()])
    expected = np.flatnonzero(both.min(0) != both.max(0))
    np.testing.assert_array_equal(varying_bits(train, test, chunk_rows=3), expected)
    assert 0 < expected.size < 50  # the example has constant bits, so the test means something


def test_per_layer_redundancy_against_np_unique() -> None:
    codes = _random_codes(60, 9, (3, 2, 4), seed=3)
    table = per_layer_redundancy(codes)
    bits = codes.unpack()
    start = 0
    for row, size in zip(table.itertuples(), (3, 2, 4), strict=True):
        layer = bits[:, start : start + size]
        prefix = bits[:, : start + size]
        assert row.rr_layer == (60 - len(np.unique(layer, axis=0))) / 60
        assert row.rr_prefix == (60 - len(np.unique(prefix, axis=0))) / 60
        start += size
    assert table.rr_prefix.iloc[-1] == redundancy_ratio(codes)
    assert list(table.name) == ["relu0", "relu1", "relu2"]


def test_encode_matches_neural_codes_and_model_path_of_per_layer_rr() -> None:
    model = _small("resnet8", 1)
    x = torch.rand(10, 1, 12, 12)
    ref = _codes(model, x)
    got = encode(model, x, batch_size=3, device="cpu")
    np.testing.assert_array_equal(got.packed, ref.packed)
    assert (got.n_bits, got.layer_sizes) == (ref.n_bits, ref.layer_sizes)
    np.testing.assert_array_equal(encode(model, x, device="cpu").packed, ref.packed)
    table = per_layer_redundancy(model, x, device="cpu")
    assert table.name.iloc[0] == "stem.2" and table.name.iloc[-1] == "stages.2.0.relu2"
    assert table.rr_prefix.iloc[-1] == redundancy_ratio(ref)
    with pytest.raises(ValueError, match=r"^out must be a uint8 array of shape \(10, 324\)"):
        encode(model, x, out=np.zeros((10, 3), np.uint8), device="cpu")
    # with the logits, as neural_codes gives them (the CNN runs' accuracy costs no second pass)
    codes, logits = encode(model, x, batch_size=3, device="cpu", return_logits=True)
    ref_codes, ref_logits = neural_codes(model, x, device="cpu", return_logits=True)
    np.testing.assert_array_equal(codes.packed, ref_codes.packed)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-6, atol=1e-6)
    assert logits.shape[0] == 10 and logits.dtype == np.float32


@cuda
def test_encode_and_augment_on_cuda_match_cpu() -> None:
    model = _small("resnet8")
    x = torch.rand(6, 3, 16, 16)
    cpu = encode(model, x, device="cpu")
    gpu = encode(model.to("cuda"), x, device="cuda")
    assert (cpu.packed != gpu.packed).mean() < 1e-3  # float rounding may flip a bit at 0
    a = augment_batch(x, generator=torch.Generator().manual_seed(0))
    b = augment_batch(x.cuda(), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a, b.cpu(), atol=1e-5)
