"""The compiled cohort programs: training for a stretch of updates, and evaluation, vmapped.

A `CohortProgram` holds one *template* Keras model (built, compiled and pruned like a member)
and two `jax.jit` functions over stacked per-member state (leading axis = members):

* `train_chunk(state, active, constants, feed, steps, x_train, y_train)`: `steps` updates
  (a traced count, so the last, shorter stretch before the budget needs no second program) in
  a `jax.lax.fori_loop`. Each update gathers every member's batch from the training arrays on
  the device, mixes it (mixup), and runs Keras's own JAX `train_step` of the template model under
  `jax.vmap`, with the member's learning rate, momentum, label smoothing, pruning masks and
  `per_trial` optimizer settings bound in as traced values. Training metrics start fresh with
  each chunk (as `StepsToTarget` resets them after every evaluation), so the returned logs are
  the means over the chunk. Members whose `active` flag is False keep their state unchanged.
* `evaluate(state, constants, eval_batches)`: Keras's `test_step` under `jax.vmap` over the
  held-out batches in `model.evaluate`'s order and sizes, metrics accumulated as `evaluate`
  accumulates them.

Because the train and test steps are Keras's own, a member computes exactly what `model.fit`
and `model.evaluate` compute for that trial; what differs is only that the arithmetic runs
batched over members (float32 results agree to rounding).

Programs are cached by the cohort key, batch size, data layout and loss variant; `jax.jit`
keeps one compiled executable per argument shape (cohort size) and sharding. The evaluation
program does not depend on the training batch size (held-out batches are `max(256, batch)`
examples), so programs that differ only in batch size share one jitted `evaluate`: batch sizes up
to 256 then compile their evaluation once between them. `trace_counts()` reports how often each
was traced (tests use it to check that a program is compiled once).

Example:

>>> sorted(trace_counts())
['eval', 'train']
"""

import collections
import contextlib

__all__ = ["CohortProgram", "get_program", "trace_counts", "clear_programs", "largest_array"]

_MAX_PROGRAMS = 8
_PROGRAMS = collections.OrderedDict()
_EVALUATORS = collections.OrderedDict()  # evaluation key -> the jitted `evaluate` programs share
_TRACES = {"train": 0, "eval": 0}


def trace_counts():
    """How many times cohort train and eval programs have been traced in this process."""
    return dict(_TRACES)


def clear_programs():
    """Forgets every cached program (their compiled executables go with them)."""
    _PROGRAMS.clear()
    _EVALUATORS.clear()


def _cached(cache, key, make):
    """`cache[key]`, or `make()` stored there; the least recently used of over `_MAX_PROGRAMS` goes."""
    value = cache.get(key)
    if value is None:
        value = cache[key] = make()
        while len(cache) > _MAX_PROGRAMS:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value


def get_program(key, build, eval_key=None):
    """The cached `CohortProgram` for `key`, or the one `build()` returns (then cached).

    Programs built with the same `eval_key` (the key without the batch size: the same model,
    loss, metrics and data) share the first one's jitted `evaluate`.
    """
    def build_sharing_evaluation():
        program = build()
        if eval_key is not None:
            program.evaluate = _cached(_EVALUATORS, eval_key, lambda: program.evaluate)
        return program

    return _cached(_PROGRAMS, key, build_sharing_evaluation)


def largest_array(closed_jaxpr):
    """The element count of the largest array a jaxpr takes, makes or returns, nested ones included.

    >>> import jax, jax.numpy as jnp
    >>> largest_array(jax.make_jaxpr(lambda x: jnp.outer(x, x).sum())(jnp.ones(3)))
    9
    """
    import math

    def size(var):
        shape = getattr(getattr(var, "aval", None), "shape", None)
        return math.prod(shape) if shape is not None else 0

    def walk(jaxpr):
        jaxpr = getattr(jaxpr, "jaxpr", jaxpr)  # a ClosedJaxpr holds its Jaxpr
        best = max((size(v) for v in (*jaxpr.invars, *jaxpr.outvars)), default=0)
        for eqn in jaxpr.eqns:
            best = max(best, *(size(v) for v in (*eqn.invars, *eqn.outvars)))
            for param in eqn.params.values():
                for inner in param if isinstance(param, (list, tuple)) else (param,):
                    if hasattr(inner, "eqns") or hasattr(getattr(inner, "jaxpr", None), "eqns"):
                        best = max(best, walk(inner))
        return best

    return walk(closed_jaxpr)


def _set(saved, obj, name, value):
    saved.append((obj, name, obj.__dict__.get(name, _MISSING)))
    object.__setattr__(obj, name, value)


_MISSING = object()


def _restore(saved):
    for obj, name, value in reversed(saved):
        if value is _MISSING:
            object.__delattr__(obj, name)
        else:
            object.__setattr__(obj, name, value)


class CohortProgram:
    """A template model and its vmapped, jitted train-chunk and evaluation programs.

    Args:
        model: the template: a member's compiled model (pruned if members are), with its
            optimizer, loss and metrics built (`Trainer._symbolic_build`).
        num_classes: the number of classes (mixup's one-hot targets).
        traced_smoothing: whether members bind their own label smoothing into the loss.
    """

    def __init__(self, model, num_classes, traced_smoothing):
        import jax

        from tfbsz.study.cohorts.members import inner_optimizer
        from tfbsz.training import pruning, regularizers

        self.model = model
        self.num_classes = int(num_classes)
        self.optimizer = model.optimizer
        self.inner = inner_optimizer(model.optimizer)
        variable = getattr(self.inner, "momentum_variable", None)
        self.momentum_slot = None
        if variable is not None:
            self.momentum_slot = next(i for i, v in enumerate(self.optimizer.variables) if v is variable)
        self.mask_constraints = [
            v.constraint for v in model.trainable_variables if isinstance(v.constraint, pruning.MaskConstraint)
        ]
        loss = model.loss
        self.smoothing_loss = (
            loss if traced_smoothing and isinstance(loss, (regularizers.SmoothedCrossEntropy,
                                                          regularizers.SoftTargetCrossEntropy)) else None
        )
        self.metrics_initial = [v.value for v in model.metrics_variables]
        self.train_chunk = jax.jit(self._train_chunk, donate_argnums=(0,))
        self.evaluate = jax.jit(self._evaluate)

    # ------------------------------------------------------------------ bindings

    @contextlib.contextmanager
    def _bound(self, constants, learning_rate=None, training=True):
        """Within the block the template uses one member's traced values: its label smoothing,
        and when `training`, its pruning masks, learning rate and per-trial optimizer settings."""
        from tfbsz.study.cohorts import optimizer_values

        saved = []
        try:
            if self.smoothing_loss is not None:
                _set(saved, self.smoothing_loss, "label_smoothing", constants["label_smoothing"])
            if not training:
                yield
                return
            for constraint, mask in zip(self.mask_constraints, constants["masks"]):
                _set(saved, constraint, "mask", mask)
            with optimizer_values.bind(self.inner, learning_rate, constants["optimizer_values"]):
                yield
        finally:
            _restore(saved)

    def _fresh_metrics(self, members):
        import jax.numpy as jnp

        return [jnp.broadcast_to(v, (members, *v.shape)) for v in self.metrics_initial]

    # ------------------------------------------------------------------ training

    def _member_train_step(self, state, metrics, x, y, learning_rate, momentum, constants):
        optimizer = list(state["optimizer"])
        if self.momentum_slot is not None:
            slot = optimizer[self.momentum_slot]
            optimizer[self.momentum_slot] = momentum.astype(slot.dtype)
        with self._bound(constants, learning_rate):
            logs, (trainable, non_trainable, optimizer, metrics) = self.model.train_step(
                (state["trainable"], state["non_trainable"], optimizer, metrics), (x, y)
            )
        new_state = {"trainable": list(trainable), "non_trainable": list(non_trainable),
                     "optimizer": list(optimizer)}
        return logs, new_state, list(metrics)

    def _batch(self, feed, i, x_train, y_train):
        import jax
        import jax.numpy as jnp

        from tfbsz.training import regularizers

        indices = feed["indices"][:, i]
        x, y = x_train[indices], y_train[indices]
        if "mix_lambda" in feed:
            onehot = jax.nn.one_hot(y, self.num_classes, dtype=jnp.float32)
            lam = feed["mix_lambda"][:, i]
            perm = feed["mix_permutation"][:, i]
            x, y = jax.vmap(regularizers.mix_pair)(x.astype(jnp.float32), onehot, lam, perm)
        return x, y

    def _train_chunk(self, state, active, constants, feed, steps, x_train, y_train):
        import jax
        import jax.numpy as jnp

        _TRACES["train"] += 1
        members = active.shape[0]
        step = jax.vmap(self._member_train_step)

        def body(i, carry):
            current, metrics, _ = carry
            x, y = self._batch(feed, i, x_train, y_train)
            momentum = feed.get("momentum")
            momentum = momentum[:, i] if momentum is not None else jnp.zeros((members,), jnp.float32)
            logs, current, metrics = step(current, metrics, x, y, feed["learning_rate"][:, i], momentum, constants)
            return current, metrics, logs

        metrics = self._fresh_metrics(members)
        logs_shape = jax.eval_shape(body, 0, (state, metrics, None))[2]
        logs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), logs_shape)
        new_state, _, logs = jax.lax.fori_loop(0, steps, body, (state, metrics, logs))

        def keep_ended(new, old):
            mask = active.reshape((members,) + (1,) * (new.ndim - 1))
            return jnp.where(mask, new, old)

        return jax.tree.map(keep_ended, new_state, state), logs

    def member_array_elements(self, state, constants, feed, x_train, y_train, x_eval, y_eval):
        """The element count of the largest array one member makes: in its update (forward and
        backward pass, optimizer) and in its evaluation of one held-out batch (`x_eval`, `y_eval`),
        from the traced steps: nothing is compiled or run.

        `state` and `constants` are one member's (no member axis); `feed` is stacked for one
        member (a member axis of length 1). Under `vmap` a cohort of n members per device makes
        arrays of n times this size.
        """
        import jax
        import numpy as np

        def abstract(v):
            return jax.ShapeDtypeStruct(np.shape(v), v.dtype)

        one_state, one_constants, x_eval, y_eval = jax.tree.map(abstract, (state, constants, x_eval, y_eval))
        batch = jax.eval_shape(self._batch, feed, 0, x_train, y_train)
        x, y = (jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for v in batch)
        metrics = [abstract(v) for v in self.metrics_initial]
        scalar = jax.ShapeDtypeStruct((), np.float32)
        update = jax.make_jaxpr(self._member_train_step)(one_state, metrics, x, y, scalar, scalar, one_constants)
        evaluation = jax.make_jaxpr(self._member_test_step)(
            one_state["trainable"], one_state["non_trainable"], metrics, x_eval, y_eval, one_constants)
        return max(largest_array(update), largest_array(evaluation))

    # ------------------------------------------------------------------ evaluation

    def _member_test_step(self, trainable, non_trainable, metrics, x, y, constants):
        with self._bound(constants, training=False):
            logs, (_, _, metrics) = self.model.test_step((trainable, non_trainable, metrics), (x, y))
        return logs, list(metrics)

    def _evaluate(self, state, constants, full_x, full_y, rest_x, rest_y):
        """Logs of `evaluate` over `full_*` (stacked equal batches) then `rest_*` (or None)."""
        import jax

        _TRACES["eval"] += 1
        members = jax.tree.leaves(state["trainable"])[0].shape[0]
        test = jax.vmap(self._member_test_step, in_axes=(0, 0, 0, None, None, 0))
        trainable, non_trainable = state["trainable"], state["non_trainable"]

        def body(metrics, batch):
            logs, metrics = test(trainable, non_trainable, metrics, batch[0], batch[1], constants)
            return metrics, logs

        metrics = self._fresh_metrics(members)
        logs = None
        if full_x is not None:
            metrics, stacked = jax.lax.scan(body, metrics, (full_x, full_y))
            logs = jax.tree.map(lambda v: v[-1], stacked)
        if rest_x is not None:
            metrics, logs = body(metrics, (rest_x, rest_y))
        return logs
