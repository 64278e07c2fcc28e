"""The model catalogue: names, options, option errors, task checks, sizing arithmetic."""

import inspect

import pytest

from tfbsz import models
from tfbsz.core.errors import ConfigError
from helpers import run_python
from model_testdata import image_data, lm_data


def test_names_and_options_are_listed_without_building():
    assert models.names() == ["mlp", "resnet", "simple_cnn", "transformer"]
    assert models.options("transformer") == {
        "num_layers": 2, "d_model": 64, "num_heads": 4, "mlp_dim": 256,
        "dropout": 0.0, "tie_embeddings": True, "attention": "auto", "qkv": "fused",
        "remat": False,
    }
    assert models.options("simple_cnn") == {"filters": [32, 64], "dense_units": 1024}
    assert models.options("resnet") == {"depth": 8, "width": 16, "norm": "batch"}
    options = models.options("mlp")
    options["hidden_units"].append(7)  # a copy: the catalogue must not change
    assert models.options("mlp")["hidden_units"] == [128, 128]


@pytest.mark.parametrize("name", ["transformer", "simple_cnn", "mlp", "resnet"])
def test_catalogue_defaults_match_builder_defaults(name):
    # The catalogue reads the builder's defaults from its source; importing it must agree.
    params = inspect.signature(models._MODELS.get(name).builder()).parameters
    builder_defaults = {
        key: list(p.default) if isinstance(p.default, tuple) else p.default
        for key, p in params.items()
        if key not in ("input_shape", "num_classes")
    }
    assert builder_defaults == models.options(name)


def test_catalogue_import_does_not_load_keras():
    proc = run_python(
        "import sys, tfbsz.models as m; m.options('transformer'); "
        "m.transformer_config_for_params(25e6, 256, 1024); "
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_unknown_model_names_the_key_and_the_valid_names():
    with pytest.raises(ConfigError, match=r"model\.name: unknown model 'transfomer' "
                       r"\(did you mean 'transformer'\?\); valid names: mlp, resnet, "
                       r"simple_cnn, transformer"):
        models.build({"name": "transfomer"}, lm_data())


def test_unknown_option_names_model_key_and_valid_options():
    with pytest.raises(ConfigError, match=r"model\.num_layer: unknown option for model "
                       r"'transformer' \(did you mean 'num_layers'\?\); valid options: attention, d_model,"):
        models.build({"name": "transformer", "num_layer": 3}, lm_data())


def test_missing_name_and_non_mapping_are_config_errors():
    with pytest.raises(ConfigError, match=r"model\.name: missing"):
        models.build({"num_layers": 2}, lm_data())
    with pytest.raises(ConfigError, match=r"model: expected a mapping"):
        models.build("transformer", lm_data())


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"name": "transformer", "num_layers": 0}, r"model\.num_layers: expected an integer >= 1, got 0"),
        ({"name": "transformer", "d_model": 30, "num_heads": 4},
         r"model\.num_heads: must divide model\.d_model=30, got 4"),
        ({"name": "transformer", "dropout": 1.0}, r"model\.dropout: expected a number in \[0, 1\), got 1\.0"),
        ({"name": "transformer", "tie_embeddings": "yes"},
         r"model\.tie_embeddings: expected true or false, got 'yes'"),
        ({"name": "transformer", "num_layers": True}, r"model\.num_layers: expected an integer"),
    ],
)
def test_transformer_option_values_are_checked(cfg, message):
    with pytest.raises(ConfigError, match=message):
        models.build(cfg, lm_data())


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"name": "simple_cnn", "filters": [32]}, r"model\.filters: expected a list of 2 integers >= 1"),
        ({"name": "simple_cnn", "dense_units": -1}, r"model\.dense_units: expected an integer >= 1, got -1"),
        ({"name": "mlp", "hidden_units": [16, 0]}, r"model\.hidden_units\[1\]: expected an integer >= 1, got 0"),
        ({"name": "mlp", "activation": "relux"}, r"model\.activation: expected a Keras activation name"),
        ({"name": "resnet", "depth": 10}, r"model\.depth: expected 6n \+ 2 .*got 10"),
        ({"name": "resnet", "norm": "layer"}, r"model\.norm: expected one of batch, none, got 'layer'"),
    ],
)
def test_image_model_option_values_are_checked(cfg, message):
    with pytest.raises(ConfigError, match=message):
        models.build(cfg, image_data())


@pytest.mark.parametrize("name", ["mlp", "simple_cnn", "resnet"])
def test_image_models_refuse_language_modelling(name):
    with pytest.raises(ConfigError, match=rf"model '{name}' does not fit the 'language_model' "
                       r"task .* models for this task: transformer"):
        models.build({"name": name}, lm_data())


def test_transformer_refuses_classification():
    with pytest.raises(ConfigError, match=r"model 'transformer' does not fit the 'classification'"):
        models.build({"name": "transformer"}, image_data())


@pytest.mark.parametrize("name", ["simple_cnn", "resnet"])
def test_image_models_check_input_rank(name):
    with pytest.raises(ConfigError, match=rf"model '{name}' needs images of shape \(height, "
                       r"width, channels\), got input shape \(64,\) \(rank 1\)"):
        models.build({"name": name}, image_data(shape=(64,)))


def test_transformer_checks_input_rank():
    data = lm_data()
    data.input_shape = (16, 2)
    with pytest.raises(ConfigError, match=r"needs token sequences of shape \(seq_len,\)"):
        models.build({"name": "transformer"}, data)


def test_transformer_num_params_formula_by_hand():
    # d=64, mlp=256, V=256, S=64, 2 layers, tied:
    # embeddings 256*64 + 64*64; block 4*64*64+4*64 + 2*64*256+256+64 + 4*64; final norm 2*64
    assert models.transformer_num_params(2, 64, 256, 256, 64) == 16384 + 4096 + 2 * 49984 + 128
    untied = models.transformer_num_params(2, 64, 256, 256, 64, tie_embeddings=False)
    assert untied == 120576 + 64 * 256


@pytest.mark.parametrize(
    "target, vocab, seq_len, expected",
    [
        (25e6, 256, 1024, (8, 512)),
        (135e6, 256, 1024, (14, 896)),
        (135e6, 32000, 1024, (15, 768)),
    ],
)
def test_transformer_config_for_params_hits_the_target(target, vocab, seq_len, expected):
    cfg = models.transformer_config_for_params(target, vocab, seq_len)
    assert (cfg["num_layers"], cfg["d_model"]) == expected
    assert cfg["num_heads"] * 64 == cfg["d_model"] and cfg["mlp_dim"] == 4 * cfg["d_model"]
    count = models.transformer_num_params(
        cfg["num_layers"], cfg["d_model"], cfg["mlp_dim"], vocab, seq_len
    )
    assert abs(count / target - 1) <= 0.05
    name, resolved = models.resolve_options(cfg)  # accepted by build's option check
    assert name == "transformer" and resolved["d_model"] == cfg["d_model"]


def test_transformer_config_for_params_rejects_tiny_targets():
    with pytest.raises(ConfigError, match=r"target_params: expected a number >= 10000, got 5"):
        models.transformer_config_for_params(5, 256, 64)


def test_public_names_exist():
    from tfbsz.training import regularizers

    for module in (models, regularizers):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{module.__name__}.__all__ names missing objects: {missing}"


def test_transformer_needs_a_fixed_sequence_length():
    data = lm_data()
    data.input_shape = (None,)
    with pytest.raises(ConfigError, match=r"with a fixed seq_len >= 1, got input shape \(None,\)"):
        models.build({"name": "transformer"}, data)
