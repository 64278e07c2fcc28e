"""The "Steps to target" TensorBoard dashboard for tfbsz studies.

TensorBoard finds the plugin through the `tensorboard_plugins` entry point
(`tfbsz.tb_plugin.plugin:StepsToTargetPlugin`); start it with::

    tensorboard --logdir runs/

and open the "Steps to target" tab. The plugin imports neither Keras nor TensorFlow: it reads the
study files on disk (see docs/dashboard.md).

>>> from tfbsz import tb_plugin
>>> tb_plugin.PLUGIN_NAME
'tfbsz'
"""

from tfbsz.tb_plugin.metadata import PLUGIN_NAME, TAB_NAME

__all__ = ["PLUGIN_NAME", "TAB_NAME"]
