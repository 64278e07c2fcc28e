"""`run_cohort`: train several trials of one batch size together, each as `run_trial` would.

The loop, per stretch of updates up to the next evaluation (`eval_every`, or the budget):

1. the host prepares every active member's per-update inputs (`feeds.MemberFeed`);
2. one call of the compiled train program runs the stretch for all members (`programs`);
3. one call of the compiled evaluation program evaluates all members;
4. each member's `StepsToTarget` records its measurement and decides its outcome
   (`tracking.MemberTracker`); a member that reached, missed or diverged is frozen (its state no
   longer changes, it is no longer measured), reported to the listener at once, and its result
   is final. The cohort ends when every member has ended.

JAX backend only (see `compatibility.can_run_as_cohort`).
"""

import functools
import pathlib
import time
import weakref

import numpy as np

from tfbsz.study.eval_schedule import evaluation_after, longest_stretch

__all__ = ["run_cohort"]

# GPU kernels (XLA's Triton gemms and cuDNN convolutions among them) index arrays with 32-bit
# integers: with an array of 2^31 elements or more they can read out of bounds
# (CUDA_ERROR_ILLEGAL_ADDRESS), which ends the process's device context. A cohort of n members per
# device makes arrays n times a member's, so no more members share a device than keep them below.
MAX_ARRAY_ELEMENTS = 2**31 - 1

# Device copies of data sets' arrays, per data set object and placement.
_DEVICE_DATA = weakref.WeakKeyDictionary()


def _check_members(cfg, members):
    from tfbsz.core.errors import ConfigError
    from tfbsz.study.cohorts.compatibility import cohort_key
    from tfbsz.study.cohorts.members import CohortMember

    members = [CohortMember.of(m) for m in members]
    if not members:
        raise ConfigError("run_cohort: members: expected at least one CohortMember, got none")
    ids = [m.trial_id for m in members]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"run_cohort: members: trial ids must differ, got {ids}")
    key = cohort_key(cfg, members[0].parameters)
    for m in members[1:]:
        if cohort_key(cfg, m.parameters) != key:
            raise ConfigError(
                f"run_cohort: trial {m.trial_id} cannot share a program with trial "
                f"{members[0].trial_id}: their parameters change the model, data or optimizer "
                "structure (compare cohort_key(cfg, parameters))"
            )
    return members, key


def _dataset_signature(dataset):
    return (dataset.name, dataset.task, dataset.x_train.shape, str(dataset.x_train.dtype),
            dataset.y_train.shape, dataset.x_eval.shape, int(dataset.num_classes),
            (dataset.metadata or {}).get("sha256"))


def _eval_arrays(cfg, dataset, soft_targets):
    x_eval, y_eval = dataset.eval_arrays(cfg.eval_examples)
    if soft_targets:
        y_eval = np.eye(dataset.num_classes, dtype="float32")[y_eval]
    return x_eval, y_eval


def _eval_batches(x, y, batch_size):
    """`model.evaluate`'s batches of (x, y): the full ones stacked, then the remainder (or None)."""
    full = len(x) // batch_size
    cut = full * batch_size
    stacked = (x[:cut].reshape(full, batch_size, *x.shape[1:]), y[:cut].reshape(full, batch_size, *y.shape[1:]))
    if full == 0:
        stacked = (None, None)
    rest = (x[cut:], y[cut:]) if cut < len(x) else (None, None)
    return (*stacked, *rest)


def _device_data(dataset, placement, cfg, soft_targets, eval_batch_size):
    key = (tuple(str(d) for d in placement.devices), cfg.eval_examples, soft_targets, eval_batch_size)
    per_dataset = _DEVICE_DATA.setdefault(dataset, {})
    if key not in per_dataset:
        x_eval, y_eval = _eval_arrays(cfg, dataset, soft_targets)
        per_dataset.clear()  # one placement at a time per data set keeps memory bounded
        per_dataset[key] = placement.replicated({
            "train": (dataset.x_train, dataset.y_train),
            "eval": _eval_batches(x_eval, y_eval, eval_batch_size),
        })
    return per_dataset[key]


def _build_program(setup, batch_size, dataset, variant):
    from tfbsz.study import trainer
    from tfbsz.study.cohorts.members import build_member_model
    from tfbsz.study.cohorts.programs import CohortProgram

    cfg = trainer.apply_parameters(setup.cfg, {})
    # A traced label smoothing needs a loss that takes it: a positive placeholder selects
    # `SmoothedCrossEntropy` (members bind their own value). Otherwise the template's loss is the
    # members' own (their common value is compiled in, as in a trial alone).
    smoothing = variant.label_smoothing
    cfg.regularization.label_smoothing = 0.5 if smoothing is None else smoothing
    soft_targets = setup.mixup_alpha > 0
    with trainer.dtype_policy(cfg.precision):
        model = build_member_model(cfg, setup.plan, dataset, setup.member.seed)
        x = dataset.x_train[:batch_size]
        y = dataset.y_train[:batch_size]
        if soft_targets:
            x = x.astype("float32")
            y = np.eye(dataset.num_classes, dtype="float32")[y]
        model._symbolic_build(data_batch=(x, y))  # what fit does first: builds metrics and optimizer
    return CohortProgram(model, dataset.num_classes, traced_smoothing=smoothing is None)


def _stack(setups, field):
    import jax.numpy as jnp

    columns = zip(*(getattr(s, field) for s in setups))
    return [jnp.stack([jnp.asarray(v) for v in column]) for column in columns]


def _initial_state(setups, program):
    """Stacked initial values; the optimizer's are the template's (alike for every member)."""
    import jax.numpy as jnp

    optimizer = [jnp.broadcast_to(v.value, (len(setups), *v.shape)) for v in program.optimizer.variables]
    return {"trainable": _stack(setups, "trainable"), "non_trainable": _stack(setups, "non_trainable"),
            "optimizer": optimizer}


def _constants(setups, variant):
    names = variant.optimizer_names
    return {
        "label_smoothing": np.array([s.label_smoothing for s in setups], dtype=np.float32),
        "masks": [np.stack(column).astype(np.float32) for column in zip(*(s.masks for s in setups))],
        "optimizer_values": {n: np.array([s.optimizer_values[n] for s in setups], np.float32) for n in names},
    }


def _member_slice(state, index):
    import jax

    return jax.tree.map(lambda v: np.asarray(jax.device_get(v[index])), state)


def _save_member_model(setup, values, dataset, path):
    """Rebuilds the member's own model (its config, seed and masks), loads its trained values
    and saves it, as `run_trial` saves its model."""
    from tfbsz.study import trainer
    from tfbsz.study.cohorts.members import build_member_model

    with trainer.dtype_policy(setup.cfg.precision):
        model = build_member_model(setup.cfg, setup.plan, dataset, setup.member.seed)
        model.optimizer.build(model.trainable_variables)
        for variables, saved in ((model.trainable_variables, values["trainable"]),
                                 (model.non_trainable_variables, values["non_trainable"]),
                                 (model.optimizer.variables, values["optimizer"])):
            for variable, value in zip(variables, saved):
                variable.assign(value)
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)  # as run_trial: made when saved
        model.save(str(path))


def run_cohort(cfg, members, batch_size, dataset, strategy=None, listener=None, devices=None):
    """Trains `members` (trials of one batch size) together; returns their `TrialResult`s in order.

    Each member gets exactly what `run_trial(cfg, member.parameters, batch_size, member.seed,
    dataset)` would give it: the same initial weights, batches, learning rates, measurement
    rows and outcome (the arithmetic runs vectorised over members, so float32 values agree to
    rounding, not bit for bit).

    Args:
        cfg: a checked study config.
        members: `CohortMember`s (or objects with `parameters`, `seed`, `trial_id` and
            optionally `save_model_path`) whose `cohort_key`s are equal.
        batch_size: the global batch size.
        dataset: a `tfbsz.data.Dataset`.
        strategy: None or a `one_device` strategy (see `can_run_as_cohort`).
        listener: optional object with `measurement(trial_id, row)` (each measurement as it is
            made) and `trial_end(trial_id, result)` (each member as soon as it ends), and
            optionally `is_beaten(trial_id, next_step)`: asked after each evaluation of a member
            that has not ended; True ends it as `beaten` (`budget.stop_when_beaten`).
        devices: None (the default device), ``"all"`` local devices, a count, or a list of JAX
            devices: with more than one, the member axis is sharded over them.

    Returns:
        A list of `tfbsz.study.trainer.TrialResult`, one per member, in `members`' order.

    Raises:
        ConfigError: a configuration that cannot run as a cohort (`can_run_as_cohort`), members
            with different cohort keys or equal trial ids, or any error `run_trial` would raise
            for a member's configuration.
    """
    from tfbsz.core.errors import ConfigError
    from tfbsz.study.cohorts import programs
    from tfbsz.study.cohorts.compatibility import can_run_as_cohort
    from tfbsz.study.cohorts.members import set_up_member
    from tfbsz.study.cohorts.placement import Placement, padded_size, resolve_devices
    from tfbsz.study.cohorts.variants import choose_variant

    possible, reason = can_run_as_cohort(cfg, strategy)
    if not possible:
        raise ConfigError(f"run_cohort: {reason}")
    members, key = _check_members(cfg, members)
    setups = [set_up_member(cfg, m, batch_size, dataset) for m in members]
    for s in setups:  # every non-traced setting is in the key, so these agree; checked anyway
        if s.plan.max_steps != setups[0].plan.max_steps:
            raise ConfigError("run_cohort: members have different budgets (max_steps)")
    first = setups[0]
    variant = choose_variant(members, setups)
    signature = _dataset_signature(dataset)
    program = programs.get_program(
        (key, int(batch_size), signature, variant),
        lambda: _build_program(first, batch_size, dataset, variant),
        eval_key=(key, signature, variant),
    )

    placement = Placement(resolve_devices(devices))
    group = _members_per_device(program, first, batch_size, dataset, variant) * placement.count
    groups = _even_groups(setups, group)
    note = getattr(listener, "note", None)
    if len(groups) > 1 and note is not None and not getattr(program, "split_noted", False):
        note(f"bs {batch_size}: cohorts of at most {group} trials at once ({len(setups)} asked): a larger one "
             f"would make an array of 2^31 elements or more, past what GPU kernels can index")
        program.split_noted = True  # once per program (a batch size of a study)
    # Every group padded to the first's size: one compiled shape for all of them.
    size = padded_size(len(groups[0]), placement.count)
    results = []
    for part in groups:
        results += _train(part, size, program, variant, placement, batch_size, dataset, listener)
    return results


def _members_per_device(program, first, batch_size, dataset, variant):
    """How many members one device may hold: the most whose arrays all stay under
    `MAX_ARRAY_ELEMENTS` elements (at least 1). Traced once per program.

    A member's arrays: those of its update and of its evaluation (traced), and its rows of a
    stretch's inputs (batch indices for every update up to the next evaluation)."""
    from tfbsz.study.cohorts.feeds import MemberFeed, stack_feeds

    largest = getattr(program, "largest_member_array", None)
    if not isinstance(largest, int):
        soft_targets = first.mixup_alpha > 0
        state = {"trainable": first.trainable, "non_trainable": first.non_trainable,
                 "optimizer": [v.value for v in program.optimizer.variables]}
        constants = _member_slice(_constants([first], variant), 0)
        feed = stack_feeds([MemberFeed(first, dataset, batch_size).empty(1)])
        x_eval, y_eval = _eval_arrays(first.cfg, dataset, soft_targets)
        eval_batch = min(len(x_eval), _eval_batch_size(first))
        stretch = longest_stretch(first.cfg.eval_every, first.plan.max_steps) * int(batch_size)
        largest = program.largest_member_array = max(stretch, program.member_array_elements(
            state, constants, feed, dataset.x_train, dataset.y_train, x_eval[:eval_batch], y_eval[:eval_batch]))
    return max(1, MAX_ARRAY_ELEMENTS // max(1, largest))


def _eval_batch_size(setup):
    """Held-out examples per evaluation batch: at least 256, else the training micro-batch."""
    return max(256, setup.plan.micro_batch)


def _even_groups(items, most):
    """`items` in consecutive groups of at most `most`, as few groups as can be, sizes within one."""
    count = -(-len(items) // most)
    size, extra = divmod(len(items), count)
    groups, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        groups.append(items[start:end])
        start = end
    return groups


def _train(setups, size, program, variant, placement, batch_size, dataset, listener):
    """Trains `setups` as one cohort of `size` members (the rest inactive padding) on `placement`;
    their `TrialResult`s in order."""
    import jax

    from tfbsz.models.efficiency import measurement_throughput
    from tfbsz.study.cohorts.feeds import MemberFeed, stack_feeds
    from tfbsz.study.cohorts import programs
    from tfbsz.study.cohorts.tracking import MemberTracker
    from tfbsz.study.trainer import TrialResult

    first = setups[0]
    soft_targets = first.mixup_alpha > 0
    # What each result says of its cohort: the compiled size (padding included), the trials it
    # trained and the devices it spanned.
    cohort = {"size": size, "members": len(setups), "devices": placement.count}
    padded = setups + [first] * (size - len(setups))
    state = placement.members(_initial_state(padded, program))
    for s in setups:  # the stacked copies are all the cohort needs now
        s.trainable = s.non_trainable = None
    constants = placement.members(_constants(padded, variant))
    eval_batch_size = _eval_batch_size(first)
    data = _device_data(dataset, placement, first.cfg, soft_targets, eval_batch_size)

    x_eval, y_eval = _eval_arrays(first.cfg, dataset, soft_targets)
    trackers, feeds = [], []
    for s in setups:
        on_measurement = None
        if listener is not None:
            on_measurement = (lambda trial_id: lambda row: listener.measurement(trial_id, row))(s.member.trial_id)
        throughput = measurement_throughput(s.cfg.model, dataset, s.cfg.precision)  # as run_trial's columns
        trackers.append(MemberTracker(s, (x_eval, y_eval), batch_size, on_measurement, throughput))
        feeds.append(MemberFeed(s, dataset, batch_size))

    is_beaten = getattr(listener, "is_beaten", None)
    max_steps = first.plan.max_steps
    eval_every = first.cfg.eval_every
    length = longest_stretch(eval_every, max_steps)
    active = [True] * len(setups) + [False] * (size - len(setups))
    results = [None] * len(setups)
    idle = feeds[0].empty(length)

    def prepare(start):
        """The next stretch's end and every active member's inputs for it, on the devices."""
        end = min(evaluation_after(start, eval_every, max_steps), max_steps)
        rows = [feeds[i].chunk(start, end - start, length) if active[i] else idle for i in range(size)]
        return end, placement.members(stack_feeds(rows))

    for tracker in trackers:
        tracker.begin()
    started = time.perf_counter()
    updates = 0
    target, feed = prepare(0)
    compile_s = 0.0  # seconds in calls that traced and compiled a program (its first shape)
    while any(active):
        flags = placement.members(np.array(active))
        traces, call = programs.trace_counts(), time.perf_counter()
        state, train_logs = program.train_chunk(state, flags, constants, feed, np.int32(target - updates),
                                                *data["train"])
        val_logs = program.evaluate(state, constants, *data["eval"])
        if programs.trace_counts() != traces:  # calls return once compiled and dispatched
            compile_s += time.perf_counter() - call
        updates = target
        if updates < max_steps:
            # Prepared while the device works; rows of members that end now are ignored
            # (their `active` flag will be off).
            target, feed = prepare(updates)
        train_logs, val_logs = jax.device_get((train_logs, val_logs))
        ending = []
        for i in range(len(setups)):
            if active[i] and trackers[i].after_updates(
                updates,
                {k: v[i] for k, v in train_logs.items()},
                {k: float(v[i]) for k, v in val_logs.items()},
                feeds[i].learning_rates.at(updates),
            ):
                ending.append(i)
        if is_beaten is not None:  # asked once every member's measurement is in
            ending += [i for i in range(len(setups)) if active[i] and i not in ending
                       and trackers[i].end_if_beaten(functools.partial(is_beaten, setups[i].member.trial_id))]
        if updates >= max_steps:  # the budget ends everyone (StepsToTarget says missed)
            ending += [i for i in range(len(setups)) if active[i] and i not in ending]
        for i in sorted(ending):
            active[i] = False
            results[i] = _finish(setups[i], trackers[i], started, cohort, dataset, state, i, TrialResult, compile_s)
            if listener is not None:
                listener.trial_end(setups[i].member.trial_id, results[i])
    return results


def _finish(setup, tracker, started, cohort, dataset, state, index, TrialResult, compile_s):
    tracker.end()
    cb = tracker.callback
    steps = cb.measurements[-1]["step"] if cb.measurements else cb.updates
    extra = dict(setup.extra)
    # compile_s: the cohort's, so far (shared by its members; 0 when its programs were compiled before)
    extra["cohort"] = {**cohort, "setup_s": round(setup.setup_s, 4), "compile_s": round(compile_s, 3)}
    result = TrialResult(
        outcome=cb.outcome,
        steps_to_target=cb.steps_to_target,
        steps=int(steps),
        max_steps=setup.plan.max_steps,
        measurements=cb.measurements,
        best_value=cb.best_value,
        wall_time_s=time.perf_counter() - started,
        extra=extra,
    )
    path = setup.member.save_model_path
    if path is not None:
        _save_member_model(setup, _member_slice(state, index), dataset, path)
        result.extra["model"] = str(path)
    return result
