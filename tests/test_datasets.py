"""Dataset readers on tiny files written here, splits, standardisation, image shapes and the cache."""
import os
import pickle

import numpy as np
import pytest
import torch

from conftest import one_line_error
from tiny_datasets import idx_bytes, write_cifar, write_mnist
from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.problems.dataset_files import MNIST_FILES
from optsuite.problems.datasets import load_dataset, load_mnist1d_arrays
from optsuite.registry import PROBLEMS


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files_in_torchvision_layout(tmp_path, gz):
    arrays = write_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    d = load_dataset("mnist", root=str(tmp_path))
    assert d.x_train.shape == (30, 16) and d.x_test.shape == (10, 16) and d.n_classes == 10
    assert d.shape == (1, 4, 4) and d.to("cpu").shape == d.shape
    assert torch.equal(d.y_train, torch.as_tensor(arrays[1])) and torch.equal(d.y_test, torch.as_tensor(arrays[3]))
    # standardised with train statistics: train has zero mean, unit std; test is mapped the same way
    x_tr = arrays[0].reshape(30, -1).astype(np.float64)
    mean, std = x_tr.mean(0), x_tr.std(0)
    assert torch.allclose(d.x_train.mean(0), torch.zeros(16), atol=1e-5)
    expected_test = (arrays[2].reshape(10, -1) - mean) / std
    assert np.allclose(d.x_test.numpy(), expected_test, atol=1e-4)


def test_mnist_official_split_ignores_the_split_seed_and_is_cached(tmp_path):
    write_mnist(tmp_path)
    a = load_dataset("mnist", root=str(tmp_path), seed=0)
    b = load_dataset("mnist", root=str(tmp_path), seed=5)
    assert a is b


def test_mnist_without_folder_names_the_files():
    with pytest.raises(UserError, match="needs data_root: a folder with train-images-idx3-ubyte"):
        load_dataset("mnist")


def test_mnist_missing_file_names_the_files(tmp_path):
    write_mnist(tmp_path)
    os.remove(tmp_path / MNIST_FILES[3])
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=str(tmp_path / "x"))


@pytest.mark.parametrize("corrupt,message", [
    (lambda b: b"\x01" + b[1:], "not an IDX file"),
    (lambda b: b[:-5], "malformed"),
    (lambda b: b[:6], "truncated"),
])
def test_malformed_idx_file_is_a_user_error(tmp_path, corrupt, message):
    write_mnist(tmp_path)
    path = tmp_path / MNIST_FILES[0]
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(UserError, match=message):
        load_dataset("mnist", root=str(tmp_path))


def test_mnist_images_and_labels_must_agree(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / MNIST_FILES[1]).write_bytes(idx_bytes(np.arange(29) % 10))
    with pytest.raises(UserError, match="disagree"):
        load_dataset("mnist", root=str(tmp_path))


def test_cifar10_pickle_batches(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    d = load_dataset("cifar10", root=str(tmp_path))
    assert d.x_train.shape == (30, 3072) and d.x_test.shape == (6, 3072) and d.shape == (3, 32, 32)
    assert d.y_test.tolist() == [(5 + j) % 10 for j in range(6)]


def test_cifar10_refuses_a_pickle_that_would_run_code(tmp_path):
    write_cifar(tmp_path)
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    with pytest.raises(UserError, match="test_batch is not a CIFAR-10 python batch"):
        load_dataset("cifar10", root=str(tmp_path))
    assert not marker.exists()


def test_cifar10_wrong_shape_is_a_user_error(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(UserError, match="data_batch_2 is malformed"):
        load_dataset("cifar10", root=str(tmp_path))


def test_digits_split_is_seeded_and_stratified():
    a, b, c = load_dataset("digits", seed=1), load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert a is b
    assert not torch.equal(a.y_test, c.y_test)
    counts = torch.bincount(c.y_test, minlength=10).float()
    assert counts.min() >= 0.9 * counts.mean()
    assert a.shape == (1, 8, 8) and a.n_features == 64


def test_mnist1d_is_generated_locally_with_its_official_split():
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    x, _, _, _ = load_mnist1d_arrays()
    assert np.random.rand() == expected_next  # the generator's global seeding is undone
    d = load_dataset("mnist1d")
    assert np.allclose(d.x_train.mean(0).numpy(), 0, atol=1e-5) and x.shape == (4000, 40)
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40) and d.n_classes == 10 and d.shape is None
    assert torch.bincount(d.y_train, minlength=10).min() > 300


def test_unknown_dataset_and_bad_fraction():
    with pytest.raises(UserError, match="unknown dataset 'imagenet'; known: cifar10, digits, mnist, mnist1d"):
        load_dataset("imagenet")
    with pytest.raises(UserError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.5)


def test_a_gz_file_whose_body_does_not_decompress_is_a_user_error(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / f"{MNIST_FILES[0]}.gz"
    data = bytearray(path.read_bytes())
    data[12:40] = bytes(28)  # the gzip header stays valid; the deflate stream does not
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=f"cannot read {path}: Error -3 while decompressing"):
        load_dataset("mnist", root=str(tmp_path))


@pytest.mark.parametrize("labels", ["train", "t10k"])
def test_mnist_labels_outside_the_ten_classes_are_refused(tmp_path, labels):
    write_mnist(tmp_path)
    name = MNIST_FILES[1 if labels == "train" else 3]
    n = 30 if labels == "train" else 10
    (tmp_path / name).write_bytes(idx_bytes(50 + np.arange(n) * 6))  # values 50..230, as in a file of pixels
    with pytest.raises(UserError, match=f"mnist {labels} labels in .*: {n} labels outside 0..9 \\(e.g. 50\\)"):
        load_dataset("mnist", root=str(tmp_path))


def test_cifar10_labels_outside_the_ten_classes_are_refused(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 12]}))
    with pytest.raises(UserError, match="test_batch: 1 labels outside 0..9"):
        load_dataset("cifar10", root=str(tmp_path))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_a_split_seed_outside_numpys_range_is_a_user_error(seed, capsys):
    with pytest.raises(UserError, match="data_seed=.* must be an integer from 0 to 2\\*\\*32 - 1"):
        load_dataset("digits", seed=seed)
    assert main(["run", "-p", "noprop-dt(data_seed=-1)", "-o", "gd", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data_seed=-1 must be an integer" in err and len(err.splitlines()) == 1


def test_a_data_root_that_cannot_be_read_is_one_line(tmp_path):
    from unprivileged import optsuite

    write_mnist(tmp_path / "locked")
    (tmp_path / "locked").chmod(0)
    try:
        done = optsuite("run", "-p", f"least-squares(dataset=mnist,data_root={tmp_path / 'locked'})", "-o", "gd",
                        "--dry-run")
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(f"dataset 'mnist': cannot look into {tmp_path / 'locked'} (Permission denied)")
    assert len(done.stderr.strip().splitlines()) == 1


def test_data_root_is_refused_where_the_dataset_reads_none_and_names_ignore_case(tmp_path, capsys):
    assert main(["run", "-p", f"least-squares(data_root={tmp_path})", "-o", "gd", "--dry-run"]) == 2
    one_line_error(capsys, "dataset 'digits' reads no data_root")
    write_mnist(tmp_path / "mnist")
    problem = PROBLEMS.create("least-squares", dataset="MNIST", data_root=str(tmp_path / "mnist"))
    assert problem.data.name == "mnist" and problem.n_train == 30
    assert main(["run", "-p", "least-squares(dataset=mnst)", "-o", "gd", "--dry-run"]) == 2
    one_line_error(capsys, "(did you mean 'mnist'?)")
