"""The Keras-free core: errors, the component registry, value checks, targets and the study config.

* `errors`: `TfbszError`, `ConfigError` (one line, exit code 2 on the command line).
* `registry`: named components with closest-name hints.
* `checks`: number, integer, choice, string and list checks with one message format.
* `targets`: `Target` and the one rule for a metric's direction.
* `schema`: every config key's type, range, default and doc (docs/config.md is generated from it).
* `config`: YAML -> checked `Config` (a dict whose sections also read as attributes).

Nothing here imports Keras or TensorFlow, so the command line can check a config and answer
`--help` or a bad input at once.
"""
