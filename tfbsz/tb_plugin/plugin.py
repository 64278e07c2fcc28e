"""The "Steps to target" TensorBoard plugin: backend routes over the tfbsz studies under a logdir.

Routes (under `/data/plugin/tfbsz/`):

* `/index.js`, `/static/<file>`: the dashboard (plain JavaScript ES modules, inline SVG charts).
* `/runs`: `{"runs": [{"name", "kind", "dataset", "model", "optimizer", "target"}], "notes": [...]}`;
  a study whose files cannot be read is left out, with a note saying why.
* `/study?run=NAME[&metric=M&threshold=T&direction=min|max]`: one study's per-batch-size rows,
  per-trial rows and analysis (fit, perfect-scaling line, regimes). `metric`/`threshold`/
  `direction` replace the study's target (bare Shallue trees declare none).

Bad requests get a JSON answer `{"error": "..."}` with a 4xx code: 400 for a missing or malformed
parameter, 404 for an unknown run or file, 422 when a study's files cannot be read (malformed,
too large, links out of the study, not regular files: see `tfbsz.records.file_reading`).
Studies are read by `tfbsz.records.results` through `_files.StudyFiles`, which caches the run
list for a few seconds and every loaded study until one of its files changes; the answer for a
study and a target is kept as long as that loaded study is.

>>> import tempfile, json
>>> from werkzeug import test as wtest, wrappers
>>> from tensorboard.backend import application
>>> from tensorboard.plugins import base_plugin
>>> from tfbsz.tb_plugin.plugin import StepsToTargetPlugin
>>> plugin = StepsToTargetPlugin(base_plugin.TBContext(logdir=tempfile.mkdtemp()))
>>> client = wtest.Client(application.TensorBoardWSGI([plugin]), wrappers.Response)
>>> json.loads(client.get("/data/plugin/tfbsz/runs").get_data())
{'runs': [], 'notes': []}
>>> client.get("/data/plugin/tfbsz/study?run=../../etc").status_code
400
"""

import collections
import math
import os
import posixpath
import threading
import time

from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tfbsz.core.errors import ConfigError
from tfbsz.core.targets import Target, default_direction
from tfbsz.tb_plugin import _files, _scaling, metadata

_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_STUDY_PARAMS = frozenset({"run", "metric", "threshold", "direction"})


class RequestError(Exception):
    """A request the plugin refuses, with the HTTP code to answer."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class StepsToTargetPlugin(base_plugin.TBPlugin):
    """Charts steps to result against batch size for every tfbsz study under the logdir.

    A study is a folder with `tfbsz_study.json`, or the `<optimizer>` folder of a bare
    Shallue-layout tree (`<dataset>/<model>/<optimizer>/<batch_size>/study.json`).
    """

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._logdir = getattr(context, "logdir", None) or None
        self._files = _files.StudyFiles(self._logdir)
        self._answers = collections.OrderedDict()  # (study id, target, run) -> (study, body)
        self._answers_lock = threading.Lock()
        self._inactive_checked_at = None
        self._known_active = False

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index_js,
            "/static/*": self._serve_static,
            "/runs": self._serve_runs,
            "/study": self._serve_study,
        }

    def is_active(self):
        """True once any study exists under the logdir (rescans at most every few seconds)."""
        if self._known_active:
            return True
        now = time.monotonic()
        if self._inactive_checked_at is not None and (
            now - self._inactive_checked_at < metadata.INACTIVE_RESCAN_SECONDS
        ):
            return False
        self._inactive_checked_at = now
        self._known_active = bool(self._files.runs()[0])
        return self._known_active

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name=metadata.TAB_NAME)

    # ----- routes -------------------------------------------------------------------------

    @wrappers.Request.application
    def _serve_index_js(self, request):
        return self._static_response(request, "index.js")

    @wrappers.Request.application
    def _serve_static(self, request):
        name = request.path.rsplit("/static/", 1)[-1]
        return self._static_response(request, name)

    @wrappers.Request.application
    def _serve_runs(self, request):
        return http_util.Respond(request, self._files.listing(), "application/json")

    @wrappers.Request.application
    def _serve_study(self, request):
        try:
            body = self._study_body(request.args)
        except RequestError as err:
            return _json_error(request, err.code, str(err))
        return http_util.Respond(request, body, "application/json")

    # ----- helpers ------------------------------------------------------------------------

    def _study_body(self, args):
        unknown = sorted(set(args) - _STUDY_PARAMS)
        if unknown:
            raise RequestError(400, f"unknown parameter(s) {unknown}; expected {sorted(_STUDY_PARAMS)}")
        for key in args:
            if len(args.getlist(key)) > 1:
                raise RequestError(400, f"parameter '{key}' given more than once")
        run = validate_run_name(args.get("run"))
        override = parse_target(args)
        try:
            study = self._files.load(run)
        except KeyError:
            raise RequestError(404, f"no study named {run!r} under the logdir") from None
        except _files.StudyReadError as err:
            raise RequestError(422, f"cannot read study {run!r}: {err}") from None
        declared = study.declared_target()
        if override is not None:
            if "direction" not in override:
                same_metric = declared is not None and declared.metric == override["metric"]
                override["direction"] = declared.direction if same_metric else _default_direction(override["metric"])
            target, target_source = _request_target(override), "request"
        else:
            target, target_source = declared, "study" if declared is not None else None
        key = (id(study), None if target is None else (target.metric, target.threshold, target.direction),
               target_source, run)
        with self._answers_lock:
            cached = self._answers.get(key)
            if cached is not None and cached[0] is study:  # the same loaded study: its files are unchanged
                self._answers.move_to_end(key)
                return cached[1]
        summary = _scaling.summarize(study, target)
        if override is not None and override["metric"] not in summary["metrics"]:
            raise RequestError(
                400, f"metric {override['metric']!r} is not a measurement column; known: {summary['metrics']}"
            )
        body = {
            "run": run,
            "kind": "tfbsz" if study.is_tfbsz else "shallue",
            "study": {key: _files.text(study.meta.get(key))
                      for key in ("dataset", "model", "optimizer", "tfbsz_version", "created")},
            "target": None if target is None else target.to_dict(),
            "target_source": target_source,
            **summary,
        }
        with self._answers_lock:
            self._answers[key] = (study, body)
            while len(self._answers) > metadata.CACHED_ANSWERS:
                self._answers.popitem(last=False)
        return body

    def _static_response(self, request, name):
        if name not in _static_files():
            return _json_error(request, 404, f"no static file {name!r}")
        with open(os.path.join(_STATIC_DIR, name), "rb") as f:
            content = f.read()
        content_type = _CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
        return http_util.Respond(request, content, content_type)


def validate_run_name(run):
    """The run name if well formed; raises RequestError(400) otherwise. The name is only looked
    up among the studies found (never joined to a path), so ':' and any printable text are fine.

    >>> validate_run_name("studies/adam")
    'studies/adam'
    >>> validate_run_name("../etc")
    Traceback (most recent call last):
    ...
    tfbsz.tb_plugin.plugin.RequestError: run name must be a relative path without '..': '../etc'
    """
    if run is None or run == "":
        raise RequestError(400, "missing parameter 'run' (a name from /runs)")
    problem = _files.run_name_problem(run)  # the same rule decides which names /runs lists
    if problem:
        raise RequestError(400, problem)
    parts = run.replace("\\", "/").split("/")
    if run.startswith(("/", "\\")) or ".." in parts or posixpath.isabs(run):
        raise RequestError(400, f"run name must be a relative path without '..': {run!r}")
    return run


def parse_target(args):
    """A target override from `metric`, `threshold`, `direction`, or None when none is given."""
    metric, threshold, direction = args.get("metric"), args.get("threshold"), args.get("direction")
    if metric is None and threshold is None and direction is None:
        return None
    if not metric or threshold is None:
        raise RequestError(400, "a target needs both 'metric' and 'threshold'")
    try:
        value = float(threshold)
    except ValueError:
        raise RequestError(400, f"threshold must be a number, got {threshold!r}") from None
    if not math.isfinite(value):
        raise RequestError(400, f"threshold must be finite, got {threshold!r}")
    if direction not in (None, "min", "max"):
        raise RequestError(400, f"direction must be 'min' or 'max', got {direction!r}")
    override = {"metric": metric, "threshold": value}
    if direction:
        override["direction"] = direction
    return override


def _default_direction(metric):
    """The metric's direction by the one rule (`tfbsz.core.targets.default_direction`); a
    name that does not tell is a 400 asking for `direction`."""
    try:
        return default_direction(metric, key="direction")
    except ConfigError as err:
        raise RequestError(400, str(err)) from None


def _request_target(override):
    try:
        return Target.from_dict(override)
    except ConfigError as err:
        raise RequestError(400, str(err)) from None


def _static_files():
    return {n for n in os.listdir(_STATIC_DIR) if os.path.isfile(os.path.join(_STATIC_DIR, n))}


def _json_error(request, code, message):
    return http_util.Respond(request, {"error": message}, "application/json", code=code)
