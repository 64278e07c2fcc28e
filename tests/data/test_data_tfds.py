"""TFDS sets offline: mock data for every name, a tiny dataset stored on disk, the missing-data error.

Nothing here downloads: every load passes ``download: false`` and either mocks
tfds or points ``data_dir`` at a directory made by the test.
"""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
tf = pytest.importorskip("tensorflow")

import tfbsz.data  # noqa: E402
from tfbsz.data import tfds_source  # noqa: E402
from tfbsz.core.errors import ConfigError, DataUnavailableError  # noqa: E402

IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


@pytest.fixture(autouse=True)
def fresh_cache():
    tfbsz.data.clear_cache()
    yield
    tfbsz.data.clear_cache()


def mocked(num_examples):
    return tfds.testing.mock_data(
        num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE
    )


@pytest.mark.parametrize("name", sorted(IMAGE_SHAPES))
def test_mocked_image_sets_have_the_right_layout(name, tmp_path):
    with mocked(12):
        ds = tfbsz.data.load({"name": f"tfds:{name}", "data_dir": str(tmp_path)}, seed=0)
    assert ds.name == f"tfds:{name}" and ds.task == "classification"
    assert ds.x_train.shape == (12,) + IMAGE_SHAPES[name] and ds.input_shape == IMAGE_SHAPES[name]
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.y_train.dtype == np.int32 and ds.num_classes == 10
    assert set(np.unique(ds.y_train)) <= set(range(10))
    assert ds.metadata["tfds_name"] == name and len(ds.metadata["sha256"]) == 64
    x, y = next(ds.train_batches(5, seed=0))
    assert x.shape == (5,) + IMAGE_SHAPES[name]


@pytest.mark.parametrize("name", ["lm1b", "tiny_shakespeare"])
def test_mocked_text_sets_are_byte_windows(name):
    with mocked(40):
        ds = tfbsz.data.load({"name": f"tfds:{name}", "seq_len": 8}, seed=0)
    assert ds.task == "language_model" and ds.num_classes == 256
    assert ds.x_train.shape[1:] == (8,) and ds.x_train.dtype == np.int32 and ds.num_train > 0
    np.testing.assert_array_equal(ds.x_train[:, 1:], ds.y_train[:, :-1])
    assert ds.x_train.max() < 256


def test_max_examples_caps_each_split():
    with mocked(12):
        ds = tfbsz.data.load({"name": "tfds:mnist", "max_examples": 5}, seed=0)
    assert ds.num_train == 5 and ds.num_eval == 5


def store_tiny_mnist(data_dir):
    """A 30/10-image stand-in for TFDS mnist 3.0.1, written to `data_dir`."""
    rng = np.random.default_rng(0)

    def split(count):
        images = rng.integers(0, 256, size=(count, 28, 28, 1), dtype=np.uint8)
        labels = np.arange(count, dtype=np.int64) % 10
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}), images, labels

    train, train_images, train_labels = split(30)
    test, _, _ = split(10)
    tfds.dataset_builders.store_as_tfds_dataset(
        name="mnist",
        version="3.0.1",
        features=tfds.builder("mnist").info.features,
        split_datasets={"train": train, "test": test},
        data_dir=str(data_dir),
    )
    return train_images, train_labels


def store_tiny_shakespeare(data_dir, train_text, eval_text):
    tfds.dataset_builders.store_as_tfds_dataset(
        name="tiny_shakespeare",
        version="1.0.0",
        features=tfds.builder("tiny_shakespeare").info.features,
        split_datasets={
            "train": tf.data.Dataset.from_tensor_slices({"text": [train_text]}),
            "validation": tf.data.Dataset.from_tensor_slices({"text": [eval_text]}),
        },
        data_dir=str(data_dir),
    )


def test_local_image_set_loads_offline_exactly(tmp_path):
    images, labels = store_tiny_mnist(tmp_path)
    ds = tfbsz.data.load({"name": "tfds:mnist", "data_dir": str(tmp_path)}, seed=0)
    assert ds.num_train == 30 and ds.num_eval == 10
    # TFDS shuffles examples when it writes them: compare as a set of (image, label) pairs.
    stored = {(image.tobytes(), int(label)) for image, label in zip(images, labels)}
    pixels = np.round(ds.x_train * 255).astype(np.uint8)
    loaded = {(image.tobytes(), int(label)) for image, label in zip(pixels, ds.y_train)}
    assert loaded == stored
    assert ds.metadata["tfds_version"] == "3.0.1" and ds.metadata["data_dir"] == str(tmp_path)
    with pytest.raises(ConfigError, match=r"^data\.eval_split: .*validation"):
        tfbsz.data.load(
            {"name": "tfds:mnist", "data_dir": str(tmp_path), "eval_split": "validation"}, seed=0
        )


def test_local_text_set_loads_offline_as_bytes(tmp_path):
    train_text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 3
    eval_text = "All:\nSpeak, speak.\n" * 2
    store_tiny_shakespeare(tmp_path, train_text, eval_text)
    ds = tfbsz.data.load(
        {"name": "tfds:tiny_shakespeare", "data_dir": str(tmp_path), "seq_len": 10}, seed=0
    )
    assert ds.num_train == (len(train_text) - 1) // 10 and ds.num_eval == (len(eval_text) - 1) // 10
    assert bytes(ds.x_train[0].astype(np.uint8)) == train_text[:10].encode()
    assert bytes(ds.y_eval[0].astype(np.uint8)) == eval_text[1:11].encode()


def test_missing_data_offline_is_one_line_naming_the_set_the_directory_and_the_fixes(tmp_path):
    with pytest.raises(DataUnavailableError) as caught:
        tfbsz.data.load({"name": "tfds:cifar10", "data_dir": str(tmp_path)}, seed=0)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("tfds:cifar10: data not found in ")
    assert str(tmp_path / "cifar10") in message
    assert "--set data.download=true" in message and "tfds build cifar10" in message


@pytest.mark.parametrize("option,value,message", [
    ("download", "no", r"data\.download: expected true or false, got 'no'"),
    ("data_dir", 3, r"data\.data_dir: expected a directory path or null, got 3"),
    ("train_split", "", r"data\.train_split: expected a TFDS split name"),
    ("max_examples", 0, r"data\.max_examples: expected an integer >= 1 or null, got 0"),
])
def test_bad_tfds_options_fail_before_tfds_is_touched(option, value, message):
    with pytest.raises(ConfigError, match=message):
        tfds_source.build("mnist", dict(tfds_source.defaults("mnist"), **{option: value}), seed=0)
