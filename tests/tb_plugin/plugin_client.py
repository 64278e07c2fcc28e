"""An in-process TensorBoard app holding only the "Steps to target" plugin, for route tests.

>>> import tempfile
>>> client = make_client(tempfile.mkdtemp())
>>> get_json(client, "/runs")
(200, {'runs': [], 'notes': []})
"""

import json

from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tfbsz.tb_plugin.plugin import StepsToTargetPlugin

PREFIX = "/data/plugin/tfbsz"


def make_client(logdir):
    """A werkzeug test client over TensorBoard's WSGI app with the plugin on `logdir`."""
    plugin = StepsToTargetPlugin(base_plugin.TBContext(logdir=str(logdir)))
    return werkzeug_test.Client(application.TensorBoardWSGI([plugin]), wrappers.Response)


def get_json(client, route):
    """(status code, decoded JSON body) of `GET /data/plugin/tfbsz<route>`."""
    response = client.get(PREFIX + route)
    return response.status_code, json.loads(response.get_data(as_text=True))
