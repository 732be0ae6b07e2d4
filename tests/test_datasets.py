"""Synthetic sets (smiley, templates), the user's own data, and the `datasets` CLI verb."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import sparsevae
from sparsevae.cli.common import run_dataset
from sparsevae.cli.main import main
from sparsevae.data.scaling import apply_scaling, infer_scaling
from sparsevae.data.synthetic import (
    SMILEY_FACTOR_NAMES,
    make_templates,
    render_smileys,
)
from sparsevae.errors import DataError

# ---------------------------------------------------------------------------------------------
# smiley


def test_smiley_shapes_values_and_factors():
    data = sparsevae.load_dataset("smiley", n_train=300, n_test=100, seed=3)
    assert data.train_x.shape == (300, 1, 32, 32) and data.test_x.shape == (100, 1, 32, 32)
    assert data.train_x.dtype == torch.float32
    assert set(data.train_x.unique().tolist()) == {0.0, 1.0}  # binary images
    assert data.train_factors.shape == (300, 22) and data.test_factors.shape == (100, 22)
    assert data.factor_names == SMILEY_FACTOR_NAMES and len(set(data.factor_names)) == 22
    assert data.factor_names[:4] == ["bow_tie", "hat", "eyes", "mouth"]
    assert set(data.train_factors[:, :4].unique().tolist()) == {0.0, 1.0}
    # Sources are 0.5·N(0, 1): their spread is near 0.5.
    assert 0.4 < float(data.train_factors[:, 4:].std()) < 0.6


def test_smiley_is_deterministic_under_a_seed():
    a = sparsevae.load_dataset("smiley", n_train=64, n_test=32, seed=7)
    b = sparsevae.load_dataset("smiley", n_train=64, n_test=32, seed=7)
    c = sparsevae.load_dataset("smiley", n_train=64, n_test=32, seed=8)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_factors, b.test_factors)
    assert not torch.equal(a.train_x, c.train_x)
    # The test set is its own stream: it does not move when n_train changes; and a smaller set
    # is a prefix of a larger one.
    d = sparsevae.load_dataset("smiley", n_train=10, n_test=32, seed=7)
    assert torch.equal(a.test_x, d.test_x) and torch.equal(a.train_x[:10], d.train_x)


def test_smiley_attribute_frequencies_are_near_one_half():
    data = sparsevae.load_dataset("smiley", n_train=4000, n_test=10, seed=0)
    frequencies = data.train_factors[:, :4].mean(0)
    # 4000 draws: the standard error is 0.008, so ±0.04 is five of them.
    assert torch.all((frequencies - 0.5).abs() < 0.04), frequencies


def _one_smiley(**present: int) -> np.ndarray:
    attributes = np.array([[present.get(a, 0) for a in ("bow_tie", "hat", "eyes", "mouth")]])
    return render_smileys(attributes, np.zeros((1, 18), np.float32))[0]


def test_each_attribute_draws_where_the_supplement_puts_it():
    face = _one_smiley()
    assert face[16, 16] and not face[0, 0] and face.sum() > 250  # the disc of radius 10
    bow_tie = _one_smiley(bow_tie=1) & ~face
    hat = _one_smiley(hat=1) & ~face
    assert bow_tie.any() and np.nonzero(bow_tie)[0].min() >= 26  # below the face
    assert hat.any() and np.nonzero(hat)[0].max() <= 8  # on top of the head
    eyes = face & ~_one_smiley(eyes=1)
    mouth = face & ~_one_smiley(mouth=1)
    assert eyes[13, 12] and eyes[13, 20] and not eyes[13, 16]  # two holes, left and right
    assert mouth[21, 15] and not mouth[10, 15]


def test_smiley_sources_move_the_parts():
    attributes = np.ones((2, 4), np.int64)
    sources = np.zeros((2, 18), np.float32)
    sources[1, 12] = 1.0  # eye radius 2 → 3
    small, large = render_smileys(attributes, sources)
    assert large.sum() < small.sum()  # bigger holes remove more pixels
    sources[1] = 0.0
    sources[1, 17] = 1.0  # corners raised: a smile differs from a straight mouth
    straight, smile = render_smileys(attributes, sources)
    assert not np.array_equal(straight, smile)


def test_smiley_rejects_bad_options():
    with pytest.raises(DataError, match="n_train"):
        sparsevae.load_dataset("smiley", n_train=0)
    with pytest.raises(DataError, match="no option 'size'"):
        sparsevae.load_dataset("smiley", size=16)
    with pytest.raises(DataError, match="l2_normalise must be true or false"):
        sparsevae.load_dataset("smiley", n_train=8, n_test=8, l2_normalise="yes")


def test_smiley_l2_normalised_images_have_unit_norm_and_the_same_pixels_on():
    plain = sparsevae.load_dataset("smiley", n_train=16, n_test=8)
    unit = sparsevae.load_dataset("smiley", n_train=16, n_test=8, l2_normalise=True)
    norms = unit.train_x.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)
    assert torch.equal(unit.test_x > 0, plain.test_x > 0)
    assert unit.info["l2_normalise"] is True


# ---------------------------------------------------------------------------------------------
# templates


@pytest.mark.parametrize("size", [10, 5])
def test_templates_shapes_and_sparse_weights(size):
    data = sparsevae.load_dataset("templates", image_size=size, n_train=2000, n_test=50)
    assert data.train_x.shape == (2000, 1, size, size)
    assert data.train_factors.shape == (2000, 8)
    zeros = float((data.train_factors == 0).float().mean())
    assert 0.6 < zeros < 0.8  # each template is absent with probability 0.7
    assert float(data.train_x.min()) >= 0 and float(data.train_x.max()) <= 1


def test_templates_without_noise_are_the_weighted_sum():
    data = sparsevae.load_dataset("templates", noise=0.0, n_train=100, n_test=10, seed=4)
    templates = torch.from_numpy(make_templates(10, 8))
    expected = torch.einsum("nk,khw->nhw", data.train_factors, templates).clamp(0, 1)
    assert torch.allclose(data.train_x[:, 0], expected, atol=1e-6)
    noisy = sparsevae.load_dataset("templates", noise=0.2, n_train=100, n_test=10, seed=4)
    assert torch.equal(noisy.train_factors, data.train_factors)  # same weights, more noise
    assert not torch.allclose(noisy.train_x, data.train_x)
    # The templates are fixed: the same on every call, distinct from each other.
    assert np.array_equal(make_templates(10, 8), make_templates(10, 8))
    assert len(np.unique(make_templates(5, 6).reshape(6, -1), axis=0)) == 6


def test_templates_reject_bad_options():
    with pytest.raises(DataError, match="noise"):
        sparsevae.load_dataset("templates", noise=-1)
    with pytest.raises(DataError, match="active_prob"):
        sparsevae.load_dataset("templates", active_prob=0)
    with pytest.raises(DataError, match="--data-dir"):
        sparsevae.load_dataset("templates", data_dir="/tmp")


# ---------------------------------------------------------------------------------------------
# the user's own data


def test_npz_with_its_own_split_and_uint8_scaling(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (40, 6, 6)).astype(np.uint8),
        x_test=rng.integers(0, 256, (10, 6, 6)).astype(np.uint8),
        y_train=rng.integers(0, 4, 40),
        y_test=np.full(10, 3),
    )
    data = sparsevae.load_dataset(f"npz:{path}")
    assert data.shape == (1, 6, 6) and len(data.train_x) == 40 and data.num_classes == 4
    assert data.info["scaling"] == {"kind": "divide", "by": 255.0}
    with np.load(path) as raw:
        assert torch.allclose(data.test_x[:, 0], torch.from_numpy(raw["x_test"] / 255.0).float())


def test_npz_single_array_is_split_reproducibly_and_min_max_scaled(tmp_path):
    x = np.random.default_rng(1).normal(5.0, 3.0, (100, 4, 4, 3))  # channels last
    path = tmp_path / "one.npz"
    np.savez(path, x=x)
    a = sparsevae.load_dataset(f"npz:{path}", test_fraction=0.2)
    b = sparsevae.load_dataset(f"npz:{path}", test_fraction=0.2)
    assert a.shape == (3, 4, 4) and (len(a.train_x), len(a.test_x)) == (80, 20)
    assert torch.equal(a.test_x, b.test_x)
    assert a.info["scaling"]["kind"] == "minmax"
    assert float(a.train_x.min()) == 0.0 and float(a.train_x.max()) == 1.0


def test_encode_all_gives_a_new_file_s_rows_in_file_order_with_the_recorded_scaling(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.integers(0, 256, (200, 4, 4), dtype=np.uint8))
    new = rng.integers(0, 256, (30, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "new.npz", x=new)
    run = tmp_path / "run"
    common = ["--latent-dim", "2", "--hidden", "8", "--epochs", "1", "--no-progress"]
    assert main(["train", "--model", "vae", "--dataset", f"npz:{tmp_path / 'train.npz'}",
                 *common, "--out", str(run)]) == 0  # fmt: skip
    out = tmp_path / "codes.npy"
    new_set = f"npz:{tmp_path / 'new.npz'}"
    assert (
        main(["encode", str(run), "--dataset", new_set, "--split", "all", "--out", str(out)]) == 0
    )
    model = sparsevae.load(run)
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(new).float().div(255).reshape(30, 1, 4, 4))
    np.testing.assert_array_equal(np.load(out), expected.numpy())
    # Each split of a file we split ourselves keeps the file's row order too.
    test_codes = tmp_path / "test.npy"
    assert main(["encode", str(run), "--dataset", new_set, "--out", str(test_codes)]) == 0
    rows = np.flatnonzero((np.load(out)[:, None] == np.load(test_codes)[None]).all(-1).any(-1))
    np.testing.assert_array_equal(np.load(test_codes), np.load(out)[rows])


def test_recorded_scaling_maps_new_data_the_same_way():
    train = np.array([[0.0, 10.0], [5.0, 20.0]])
    scaling = infer_scaling(train, per_feature=True)
    new = np.array([[2.5, 15.0], [10.0, 0.0]])
    mapped = apply_scaling(new, scaling, "new")
    assert np.allclose(mapped, [[0.5, 0.5], [1.0, 0.0]])  # outside the fitted range: clipped


def test_npy_with_labels(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(2).random((30, 8, 8)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.arange(30) % 2)
    data = sparsevae.load_dataset(f"npy:{tmp_path / 'x.npy'}", labels=str(tmp_path / "y.npy"))
    assert data.shape == (1, 8, 8) and data.num_classes == 2
    assert data.info["scaling"] == {"kind": "none"}


def _write_images(folder, n, size=(6, 5), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 256, size).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")


def test_folder_with_class_subfolders(tmp_path):
    _write_images(tmp_path / "imgs" / "a", 6)
    _write_images(tmp_path / "imgs" / "b", 4, seed=1)
    (tmp_path / "imgs" / "a" / ".DS_Store").write_bytes(b"\x00")  # hidden files are skipped
    data = sparsevae.load_dataset(f"folder:{tmp_path / 'imgs'}", test_fraction=0.2)
    assert data.shape == (1, 6, 5) and len(data.train_x) + len(data.test_x) == 10
    assert data.num_classes == 2 and data.info["classes"] == ["a", "b"]
    labels = torch.cat([data.train_y, data.test_y])
    assert int((labels == 0).sum()) == 6


def test_folder_with_train_and_test_folders(tmp_path):
    _write_images(tmp_path / "f" / "train", 5)
    _write_images(tmp_path / "f" / "test", 3, seed=1)
    data = sparsevae.load_dataset(f"folder:{tmp_path / 'f'}", color=True)
    assert data.shape == (3, 6, 5) and (len(data.train_x), len(data.test_x)) == (5, 3)
    assert data.train_y is None


def test_folder_non_image_and_mixed_sizes_are_named(tmp_path):
    _write_images(tmp_path / "bad", 3)
    (tmp_path / "bad" / "notes.txt").write_text("not a picture")
    with pytest.raises(DataError, match=r"notes\.txt: not an image"):
        sparsevae.load_dataset(f"folder:{tmp_path / 'bad'}")
    _write_images(tmp_path / "mixed", 3)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "mixed" / "zz.png")
    with pytest.raises(DataError, match=r"zz\.png: image is 9×9.*size="):
        sparsevae.load_dataset(f"folder:{tmp_path / 'mixed'}")
    resized = sparsevae.load_dataset(f"folder:{tmp_path / 'mixed'}", size=[4, 4])
    assert resized.shape == (1, 4, 4)


def test_csv_with_header_and_text_labels(tmp_path):
    path = tmp_path / "rows.csv"
    lines = ["height,weight,kind"] + [
        f"{150 + i},{50 + 2 * i},{'cat' if i % 3 else 'dog'}" for i in range(20)
    ]
    path.write_text("\n".join(lines) + "\n")
    data = sparsevae.load_dataset(f"csv:{path}", label_column="kind")
    assert data.shape == (1, 1, 2) and data.num_classes == 2
    assert data.info["classes"] == ["cat", "dog"] and data.info["columns"] == ["height", "weight"]
    assert data.info["scaling"]["kind"] == "minmax-per-feature"
    path.write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match=r"rows\.csv:2: a feature is not a number"):
        sparsevae.load_dataset(f"csv:{path}")


def test_user_data_errors(tmp_path):
    with pytest.raises(DataError, match="npz file not found"):
        sparsevae.load_dataset(f"npz:{tmp_path / 'nothing.npz'}")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"junk\.npz: not a readable \.npz"):
        sparsevae.load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    np.savez(tmp_path / "k.npz", weights=np.zeros((3, 3)))
    with pytest.raises(DataError, match="found: weights"):
        sparsevae.load_dataset(f"npz:{tmp_path / 'k.npz'}")
    with pytest.raises(DataError, match="give a path"):
        sparsevae.load_dataset("npz:")


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_list_info_show(tmp_path, capsys):
    assert main(["datasets", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "cifar10-gray", "digits", "templates", "smiley"):
        assert name in out
    assert main(["datasets", "info", "cifar10-gray", "--cache-dir", str(tmp_path)]) == 0
    assert "6d958be0" in capsys.readouterr().out
    grid = tmp_path / "grid.png"
    show = ["datasets", "show", "smiley", "--out", str(grid), "--dataset-option", "n_train=20"]
    assert main([*show, "--dataset-option", "n_test=5", "-n", "16"]) == 0
    assert Image.open(grid).size[0] > 100
    assert main([*show, "--dataset-option", "n_test=5"]) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err


def _train(tmp_path, dataset, *extra):
    out = tmp_path / "run"
    argv = ["train", "--model", "vsc", "--dataset", dataset, *extra]
    argv += ["--latent-dim", "3", "--hidden", "8", "--epochs", "1", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    return out


def test_cli_run_records_dataset_options(tmp_path, capsys):
    run = _train(
        tmp_path, "smiley", "--dataset-option", "n_train=64", "--dataset-option", "n_test=16"
    )
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["info"]["options"] == {"n_train": 64, "n_test": 16}
    assert config["data"]["options"] == {"n_train": 64, "n_test": 16}
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["dataset"] == "smiley"
    codes = tmp_path / "codes.npy"
    assert main(["encode", str(run), "--out", str(codes)]) == 0
    assert np.load(codes).shape == (16, 3)  # the recorded n_test, not the default 20,000


def test_cli_encode_new_npz_uses_the_runs_scaling(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.uniform(0, 10, (100, 4, 4)))
    run = _train(tmp_path, f"npz:{tmp_path / 'train.npz'}")
    scaling = json.loads((run / "config.json").read_text())["data"]["info"]["scaling"]
    new = rng.uniform(0, 10, (5, 4, 4))
    np.savez(tmp_path / "new.npz", x_train=new, x_test=new)
    codes = tmp_path / "codes.npy"
    assert (
        main(["encode", str(run), "--dataset", f"npz:{tmp_path / 'new.npz'}", "--out", str(codes)])
        == 0
    )
    model = sparsevae.load(run)
    expected_x = torch.from_numpy(apply_scaling(new[:, None], scaling, "new"))
    model.eval()
    with torch.no_grad():
        expected = sparsevae.encode_dataset(model, expected_x).numpy()
    assert np.allclose(np.load(codes), expected, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# cifar10-gray (on batches made here, in the format of the python tarball)


def _cifar_folder(tmp_path, n=4):
    import pickle

    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder.parent


def test_cifar10_gray_conversion_and_sizes(tmp_path):
    root = _cifar_folder(tmp_path)
    data = sparsevae.load_dataset("cifar10-gray", data_dir=root)
    assert data.train_x.shape == (20, 1, 32, 32) and data.test_x.shape == (4, 1, 32, 32)
    import pickle

    raw = pickle.loads((root / "cifar-10-batches-py" / "test_batch").read_bytes())
    rgb = raw[b"data"].reshape(-1, 3, 32, 32) / 255.0
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    assert np.allclose(data.test_x[:, 0].numpy(), luma, atol=1e-5)
    small = sparsevae.load_dataset("cifar10-gray", data_dir=root, size=16)
    assert small.shape == (1, 16, 16)
    assert np.allclose(small.test_x[0, 0, 0, 0], luma[0, :2, :2].mean(), atol=1e-5)
    with pytest.raises(DataError, match="size must be 32 or 16"):
        sparsevae.load_dataset("cifar10-gray", data_dir=root, size=8)


def test_cifar_batches_cannot_run_code(tmp_path):
    import pickle

    root = _cifar_folder(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    (root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR-10 batch.*refusing"):
        sparsevae.load_dataset("cifar10-gray", data_dir=root)


def test_mismatched_or_misnamed_numpy_files_are_one_line_errors(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "short.npz", x=rng.random((3000, 8, 8)), y=np.arange(2999) % 10)
    with pytest.raises(DataError, match=r"short\.npz: 3000 examples but 2999 labels"):
        sparsevae.load_dataset(f"npz:{tmp_path / 'short.npz'}")
    with pytest.raises(DataError, match=r"is an \.npz archive of arrays; name it as npz:"):
        sparsevae.load_dataset(f"npy:{tmp_path / 'short.npz'}")
    np.save(tmp_path / "x.npy", rng.random((30, 8, 8)))
    with pytest.raises(DataError, match=r"is a single \.npy array; name it as npy:"):
        sparsevae.load_dataset(f"npz:{tmp_path / 'x.npy'}")
    np.save(tmp_path / "y.npy", np.arange(29))
    with pytest.raises(DataError, match="30 examples but 29 labels"):
        sparsevae.load_dataset(f"npy:{tmp_path / 'x.npy'}", labels=str(tmp_path / "y.npy"))


def test_one_hot_labels_are_refused_as_not_one_dimensional(tmp_path):
    x = np.random.default_rng(0).random((300, 8, 8))
    np.savez(tmp_path / "onehot.npz", x=x, y=np.eye(10)[np.arange(300) % 10])
    with pytest.raises(DataError, match=r"labels must be 1-D.*\(300, 10\).*argmax"):
        sparsevae.load_dataset(f"npz:{tmp_path / 'onehot.npz'}")
    model = sparsevae.VAE(input_shape=(1, 8, 8), latent_dim=2, hidden=[8])
    with pytest.raises(DataError, match=r"labels must be 1-D"):
        sparsevae.fit(model, x, train_y=np.eye(10)[np.arange(300) % 10], epochs=1, progress=False)


def test_infinite_values_are_refused_before_any_numpy_warning(tmp_path):
    x = np.random.default_rng(0).random((100, 8, 8))
    x[5, 0, 0] = np.inf
    np.savez(tmp_path / "inf.npz", x=x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail here
        with pytest.raises(DataError, match=r"inf\.npz \((train|test)\): contains NaN or infinite"):
            sparsevae.load_dataset(f"npz:{tmp_path / 'inf.npz'}")


def test_flat_rows_of_a_square_number_of_values_are_square_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rows.npz", x=rng.random((200, 64)).astype(np.float32))
    assert sparsevae.load_dataset(f"npz:{tmp_path / 'rows.npz'}").shape == (1, 8, 8)
    np.savez(tmp_path / "odd.npz", x=rng.random((200, 10)).astype(np.float32))
    assert sparsevae.load_dataset(f"npz:{tmp_path / 'odd.npz'}").shape == (1, 1, 10)
    argv = ["train", "--model", "ae", "--latent-dim", "2", "--hidden", "8", "--epochs", "1"]
    out = tmp_path / "run"
    assert main([*argv, "--dataset", f"npz:{tmp_path / 'odd.npz'}", "--out", str(out)]) == 0
    note = capsys.readouterr().err
    assert "rows of 10 values" in note and "--dataset-option shape=[C,H,W]" in note


def test_a_run_trained_on_flat_strips_still_evaluates(tmp_path):
    """Runs of 0.1.0 trained flat rows as 1×1×D strips: their data are shaped as the model is."""
    np.savez(tmp_path / "rows.npz", x=np.random.default_rng(0).random((200, 64)).astype("f4"))
    argv = ["train", "--model", "ae", "--latent-dim", "2", "--hidden", "8", "--epochs", "1"]
    out = tmp_path / "run"
    assert main([*argv, "--dataset", f"npz:{tmp_path / 'rows.npz'}", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["config"]["input_shape"] == [1, 8, 8]
    config["model"]["config"]["input_shape"] = [1, 1, 64]  # as 0.1.0 wrote it
    (out / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", str(out), "--json"]) == 0
    assert main(["encode", str(out), "--out", str(tmp_path / "c.npy")]) == 0


def test_a_folder_of_class_folders_is_split_stratified_and_shuffled(tmp_path):
    for c, name in enumerate("abc"):
        _write_images(tmp_path / "imgs" / name, 10, seed=c)
    data = sparsevae.load_dataset(f"folder:{tmp_path / 'imgs'}", test_fraction=0.2)
    assert sorted(data.test_y.tolist()) == [0, 0, 1, 1, 2, 2]  # each class, in proportion
    assert len(set(data.train_y[:8].tolist())) > 1  # not one class first
    again = sparsevae.load_dataset(f"folder:{tmp_path / 'imgs'}", test_fraction=0.2)
    assert torch.equal(again.test_x, data.test_x)  # seeded
    plain = sparsevae.load_dataset(f"folder:{tmp_path / 'imgs'}", stratify=False)
    assert plain.info["split"] == {"test_fraction": 0.1, "split_seed": 0}
    assert data.info["split"]["method"] == "stratified"
    name = f"folder:{tmp_path / 'imgs'}"
    recorded_by_0_1_0 = {  # a run's config from before stratified splits: the same test images
        "model": {"config": {"input_shape": [1, 6, 5]}},
        "data": {"name": name, "options": {}, "info": {"split": plain.info["split"]}},
    }
    assert torch.equal(run_dataset(recorded_by_0_1_0).test_x, plain.test_x)


def test_encode_all_writes_a_folder_s_codes_in_file_order(tmp_path):
    for c, name in enumerate("ab"):
        _write_images(tmp_path / "imgs" / name, 10, seed=c)
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "pca",
        "--latent-dim",
        "3",
        "--dataset",
        f"folder:{tmp_path / 'imgs'}",
    ]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    assert main(["encode", str(out), "--split", "all", "--out", str(tmp_path / "c.npy")]) == 0
    files = sorted((tmp_path / "imgs").glob("*/*.png"))
    images = np.stack([np.asarray(Image.open(f), np.float32) / 255 for f in files])
    expected = sparsevae.load(out).encode(images.reshape(20, 1, 6, 5)).numpy()
    assert np.allclose(np.load(tmp_path / "c.npy"), expected, atol=1e-5)


def test_datasets_info_describes_the_user_s_own_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (50, 28, 28)).astype(np.uint8),
             y=np.arange(50) % 5)  # fmt: skip
    assert main(["datasets", "info", f"npz:{tmp_path / 'd.npz'}"]) == 0
    out = capsys.readouterr().out
    assert "1×28×28" in out and "45 / 5" in out and "kind=divide, by=255.0" in out
    assert re.search(r"classes\s+5", out) and "test_fraction=0.1, split_seed=0" in out
    assert main(["datasets", "info", f"npz:{tmp_path / 'd.npz'}", "--dataset-option",
                 "shape=[1,1,784]"]) == 0  # fmt: skip
    assert "1×1×784" in capsys.readouterr().out


def test_encode_all_of_a_limited_run_keeps_the_file_order_of_its_examples(tmp_path):
    x = np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    out = _train(tmp_path, f"npz:{tmp_path / 'x.npz'}", "--train-limit", "20")
    assert main(["encode", str(out), "--split", "all", "--out", str(tmp_path / "c.npy")]) == 0
    data = sparsevae.load_dataset(f"npz:{tmp_path / 'x.npz'}").first_train(20)
    rows = np.sort(np.concatenate(data.source_rows))
    expected = sparsevae.load(out).encode(x[rows]).numpy()
    assert np.allclose(np.load(tmp_path / "c.npy"), expected, atol=1e-6)
