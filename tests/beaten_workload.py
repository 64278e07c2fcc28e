"""A small digits study whose trials reach the target at different steps, so that with
`budget.stop_when_beaten` some are beaten (shared by the TensorFlow test and the JAX cohort check)."""

CONFIG = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "hidden_units": [32]},
    "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
    "target": {"metric": "val/classification_error", "threshold": 0.12},
    "budget": {"max_steps": 100},
    "eval_every": 10,
    "batch_sizes": [32],
    "search": {"trials": 4, "space": {"optimizer.learning_rate": {"min": 0.005, "max": 0.3, "scale": "log"}}},
    "logging": {"tensorboard": False, "progress": "none"},
}
