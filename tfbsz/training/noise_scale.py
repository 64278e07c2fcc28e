"""The gradient noise scale B_simple = tr(Sigma) / |G|^2 (McCandlish et al. 2018), measured online.

G is the true (full-data) gradient and Sigma the covariance of per-example gradients. McCandlish
et al. show that B_simple approximates the critical batch size. It cannot be read off one
gradient, but the squared norm of a mini-batch gradient of size b has expectation
``E|G_b|^2 = |G|^2 + tr(Sigma) / b`` (their eq. A.1). Two batch sizes b_small < b_big give
unbiased estimates of both terms (their Appendix A.1)::

    |G|^2     ~ (b_big |G_big|^2 - b_small |G_small|^2) / (b_big - b_small)
    tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1 / b_small - 1 / b_big)

Single estimates are very noisy (and can be negative), so `NoiseScaleEstimator` keeps
bias-corrected exponential moving averages of both and reports their ratio. Each average is
unbiased, their ratio is not, but it is consistent; that is the choice of McCandlish et al. and
of the public implementations (GPT-NeoX, k-diffusion).

`GradientNoiseScale` is a Keras callback that, every `every` steps, takes a big batch from
(x, y), uses its first `small_batch` examples as the small batch, computes both gradient norms at
the current weights (no update) and logs `gradient_noise_scale`. It costs two extra gradient
evaluations per measurement. (Under data parallelism McCandlish et al. use the per-replica
gradient before the all-reduce as the small batch, for free; Keras's `fit` does not expose
per-replica gradients, so tfbsz does not do that: a custom training loop can feed those two
norms to `NoiseScaleEstimator.update`.)

**Which two batch sizes.** The ratio of averages is biased low when the |G|^2 average is noisy,
which happens when the big batch is small next to B_simple itself; dropping the infinite values
(averaged |G|^2 <= 0) makes it far worse. On the linear problem of tests/noise_scale with exact
B_simple = 129 (and 641), the median over 200 runs of 40 measurements was, for (b_small, b_big) =
(1, 8): 70 (270), or 33 (29) with infinite values dropped; (8, 64): 127 (588); (32, 256): 128
(640). `default_batch_pair` therefore takes the big batch at least `MIN_BIG_BATCH` = 256
examples whatever the training batch, and the small one an eighth of it (at least 8): never a
batch of 1.

Example (NumPy only):

>>> est = NoiseScaleEstimator(decay=0.0)
>>> # |G|^2 = 1 and tr(Sigma) = 8: E|G_b|^2 = 1 + 8 / b
>>> round(est.update(1 + 8 / 4, 1 + 8 / 64, 4, 64), 6)
8.0
"""

import importlib.util
import math

import keras
import numpy as np

from tfbsz.core.errors import ConfigError

__all__ = [
    "MIN_BIG_BATCH",
    "NOISE_SCALE_COLUMN",
    "default_batch_pair",
    "gradient_norm_sq_estimate",
    "trace_covariance_estimate",
    "NoiseScaleEstimator",
    "GradientNoiseScale",
    "gradient_norm_sq",
    "gradient_norm_sq_function",
]


MIN_BIG_BATCH = 256
NOISE_SCALE_COLUMN = "train/gradient_noise_scale"


def default_batch_pair(micro_batch, num_examples, small_batch=None, big_batch=None):
    """(small, big) batch sizes for the estimator; given values are kept, missing ones chosen.

    big = max(micro_batch, MIN_BIG_BATCH) (at most `num_examples`); small = big // 8, at least 8
    (and below big). See the module docstring for the bias this avoids.

    >>> default_batch_pair(8, 60000), default_batch_pair(1024, 60000), default_batch_pair(64, 100)
    ((32, 256), (128, 1024), (12, 100))
    >>> default_batch_pair(64, 60000, small_batch=4)
    (4, 256)
    """
    big = big_batch or min(max(int(micro_batch), MIN_BIG_BATCH), int(num_examples))
    if small_batch:
        big = big if big_batch else max(big, min(2 * small_batch, int(num_examples)))
        return int(small_batch), int(big)
    small = big // 8 if big // 8 >= 8 else min(8, max(1, big // 2))
    return int(small), int(big)


def _check_batches(b_small, b_big):
    if not isinstance(b_small, (int, np.integer)) or b_small < 1:
        raise ConfigError(f"b_small: expected a positive integer, got {b_small!r}")
    if not isinstance(b_big, (int, np.integer)) or b_big <= b_small:
        raise ConfigError(f"b_big: expected an integer larger than b_small={b_small}, got {b_big!r}")


def gradient_norm_sq_estimate(sq_norm_small, sq_norm_big, b_small, b_big):
    """Unbiased estimate of |G|^2 from squared gradient norms at two batch sizes.

    >>> gradient_norm_sq_estimate(3.0, 1.125, 4, 64)
    1.0
    """
    _check_batches(b_small, b_big)
    return (b_big * sq_norm_big - b_small * sq_norm_small) / (b_big - b_small)


def trace_covariance_estimate(sq_norm_small, sq_norm_big, b_small, b_big):
    """Unbiased estimate of tr(Sigma), the per-example gradient variance, from two batch sizes.

    >>> trace_covariance_estimate(3.0, 1.125, 4, 64)
    8.0
    """
    _check_batches(b_small, b_big)
    return (sq_norm_small - sq_norm_big) / (1.0 / b_small - 1.0 / b_big)


class NoiseScaleEstimator:
    """Ratio of bias-corrected EMAs of the tr(Sigma) and |G|^2 estimates.

    Args:
        decay: EMA decay in [0, 1); 0 uses only the latest pair. Defaults to 0.95.

    Attributes:
        noise_scale: current B_simple (NaN before the first update; inf while the |G|^2
            average is not positive, i.e. the gradient signal is below the noise).
        trace_sigma, grad_sq: current bias-corrected averages.
    """

    def __init__(self, decay=0.95):
        if not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
            raise ConfigError(f"decay: expected a number in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self._trace_ema = 0.0
        self._grad_ema = 0.0
        self.count = 0

    def _corrected(self, ema):
        return ema / (1.0 - self.decay**self.count) if self.count else math.nan

    @property
    def trace_sigma(self):
        return self._corrected(self._trace_ema)

    @property
    def grad_sq(self):
        return self._corrected(self._grad_ema)

    @property
    def noise_scale(self):
        if not self.count:
            return math.nan
        grad_sq = self.grad_sq
        return self.trace_sigma / grad_sq if grad_sq > 0 else math.inf

    def update(self, sq_norm_small, sq_norm_big, b_small, b_big):
        """Adds one pair of squared norms; returns the updated noise scale."""
        if not (math.isfinite(sq_norm_small) and math.isfinite(sq_norm_big)):
            return self.noise_scale  # skip NaN/Inf gradients, as GPT-NeoX does
        trace = trace_covariance_estimate(sq_norm_small, sq_norm_big, b_small, b_big)
        grad = gradient_norm_sq_estimate(sq_norm_small, sq_norm_big, b_small, b_big)
        self._trace_ema = self.decay * self._trace_ema + (1.0 - self.decay) * trace
        self._grad_ema = self.decay * self._grad_ema + (1.0 - self.decay) * grad
        self.count += 1
        return self.noise_scale


def gradient_norm_sq(model, loss_fn, x, y):
    """Squared global norm (float) of d mean(loss_fn(y, model(x))) / d trainable weights, no update.

    `loss_fn` may return per-example losses or their mean; either way the mean is differentiated.
    Layers run with training=False (no dropout, no batch-norm statistics updates), so the noise
    measured is the sampling noise of the data. This one-off form builds and compiles the
    computation on every call; `gradient_norm_sq_function` compiles it once for repeated use.
    """
    return gradient_norm_sq_function(model, loss_fn)(x, y)


def gradient_norm_sq_function(model, loss_fn):
    """`f(x, y) -> gradient_norm_sq(model, loss_fn, x, y)`, compiled once for the model.

    The one backend branch of this module: a `tf.function` around `tf.GradientTape` on
    TensorFlow, `jax.jit` of `jax.grad` over `model.stateless_call` on JAX (the weights are
    arguments, so training does not retrace it; each new batch shape compiles once). Run op by op
    instead (as before 2026-11-29), the tiny reproduction's noise cell of its Transformer took 26 s
    on 2 CPU cores, 8 s compiled. tests/noise_scale checks the compiled norm against the float64
    formula on both backends, before and after the weights change.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def norm_sq(x, y):
            with tf.GradientTape() as tape:
                loss = keras.ops.mean(loss_fn(y, model(x, training=False)))
            grads = tape.gradient(loss, model.trainable_variables)
            return tf.add_n([tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in grads if g is not None])

        return lambda x, y: float(norm_sq(x, y))
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def norm_sq(trainable, non_trainable, x, y):
            def loss_of(weights):
                y_pred, _ = model.stateless_call(weights, non_trainable, x, training=False)
                return jnp.mean(loss_fn(y, y_pred))

            grads = jax.grad(loss_of)(trainable)
            return sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in grads)

        compiled = jax.jit(norm_sq)

        def call(x, y):
            sync = getattr(model, "jax_state_sync", None)
            if sync is not None:
                sync()  # during fit, the latest weights live in the trainer's state
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            return float(compiled(trainable, non_trainable, x, y))

        return call
    raise ConfigError(f"KERAS_BACKEND: gradient noise scale supports 'tensorflow' or 'jax', got {backend!r}")


class GradientNoiseScale(keras.callbacks.Callback):
    """Keras callback logging the gradient noise scale B_simple every `every` training steps.

    Args:
        x, y: NumPy arrays (same length) to draw batches from, typically the training set.
        every: measure every this many training batches (>= 1). Defaults to 100.
        small_batch: examples in the small batch (>= 1). Defaults to 32.
        big_batch: examples in the big batch (> small_batch, <= len(x)). Defaults to 512.
        loss_fn: callable(y_true, y_pred) -> per-example losses or their mean (the mean is
            used); defaults to the compiled model's loss (a Keras loss object or name).
        decay: EMA decay of `NoiseScaleEstimator`. Defaults to 0.95.
        seed: seed of the batch sampler. Defaults to 0.
        log_dir: if given, `gradient_noise_scale` is also written to TensorBoard there
            (needs TensorFlow for the summary writer).

    After each measurement, batch logs get `gradient_noise_scale`; epoch logs get the latest
    value (so it appears in `History`), and `.history` gains a dict
    ``{"step", "gradient_noise_scale", "trace_sigma", "grad_sq", "sq_norm_small", "sq_norm_big"}``.

    Example::

        gns = GradientNoiseScale(x_train, y_train, every=50, small_batch=16, big_batch=256)
        model.fit(x_train, y_train, batch_size=64, callbacks=[gns])
        gns.history[-1]["gradient_noise_scale"]
    """

    def __init__(self, x, y, every=100, small_batch=32, big_batch=512, loss_fn=None,
                 decay=0.95, seed=0, log_dir=None):
        super().__init__()
        n = len(x)
        if len(y) != n:
            raise ConfigError(f"y: expected {n} examples like x, got {len(y)}")
        if not isinstance(every, int) or every < 1:
            raise ConfigError(f"every: expected a positive integer, got {every!r}")
        _check_batches(small_batch, big_batch)
        if big_batch > n:
            raise ConfigError(f"big_batch: expected at most len(x)={n}, got {big_batch}")
        if log_dir is not None and importlib.util.find_spec("tensorflow") is None:
            raise ConfigError(f"log_dir: writing TensorBoard summaries needs TensorFlow, which is not "
                              f"installed; got log_dir={log_dir!r} (pass log_dir=None)")
        if loss_fn is not None and not callable(loss_fn):
            raise ConfigError(f"loss_fn: expected a callable(y_true, y_pred), got {loss_fn!r}")
        self.x, self.y = x, y
        self.every, self.small_batch, self.big_batch = every, small_batch, big_batch
        self.loss_fn = loss_fn
        self.estimator = NoiseScaleEstimator(decay)
        self.history = []
        self.log_dir = log_dir
        self._rng = np.random.default_rng(seed)
        self._step = 0
        self._writer = None
        self._norm_sq = None  # compiled on the first measurement (the model is known by then)

    def set_model(self, model):
        super().set_model(model)
        self._norm_sq = None  # compiled for the model it was given

    def _loss(self):
        if self.loss_fn is not None:
            return self.loss_fn
        loss = getattr(self.model, "loss", None)
        if loss is None:
            raise ConfigError("loss_fn: the model is not compiled with a loss; pass loss_fn")
        return keras.losses.get(loss) if isinstance(loss, str) else loss

    def measure(self):
        """Takes one small/big measurement at the current weights; returns the noise scale."""
        if self._norm_sq is None:
            self._norm_sq = gradient_norm_sq_function(self.model, self._loss())
        index = self._rng.choice(len(self.x), size=self.big_batch, replace=False)
        x_big, y_big = self.x[index], self.y[index]
        x_small, y_small = x_big[: self.small_batch], y_big[: self.small_batch]
        sq_small = self._norm_sq(x_small, y_small)
        sq_big = self._norm_sq(x_big, y_big)
        value = self.estimator.update(sq_small, sq_big, self.small_batch, self.big_batch)
        self.history.append({
            "step": self._step,
            "gradient_noise_scale": value,
            "trace_sigma": self.estimator.trace_sigma,
            "grad_sq": self.estimator.grad_sq,
            "sq_norm_small": sq_small,
            "sq_norm_big": sq_big,
        })
        self._write_summary(value)
        return value

    def _write_summary(self, value):
        if self.log_dir is None:
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.scalar("gradient_noise_scale", value, step=self._step)
            tf.summary.scalar("gradient_noise_scale/trace_sigma", self.estimator.trace_sigma, step=self._step)
            tf.summary.scalar("gradient_noise_scale/grad_sq", self.estimator.grad_sq, step=self._step)
        self._writer.flush()

    def latest_measurement(self):
        """`{"train/gradient_noise_scale": latest value}` (inf kept), or {} before the first one.

        An infinite value (the averaged |G|^2 estimate is not positive) is a measurement: the
        noise scale is larger than this pair of batch sizes resolves. Dropping it would bias every
        median of the column low.
        """
        if not self.history:
            return {}
        value = float(self.history[-1]["gradient_noise_scale"])
        return {} if math.isnan(value) else {NOISE_SCALE_COLUMN: value}

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            value = self.measure()
            if logs is not None:
                logs["gradient_noise_scale"] = value

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.history:
            logs["gradient_noise_scale"] = self.history[-1]["gradient_noise_scale"]

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
