"""Names shared by the "Steps to target" plugin's backend, frontend and tests.

>>> from tfbsz.tb_plugin import metadata
>>> metadata.PLUGIN_NAME, metadata.TAB_NAME
('tfbsz', 'Steps to target')
"""

# URL prefix of every route (`/data/plugin/tfbsz/...`) and the `#tfbsz` fragment of the tab.
PLUGIN_NAME = "tfbsz"

# Label of the tab in TensorBoard's navigation bar.
TAB_NAME = "Steps to target"

# A run name is a study folder relative to the logdir; this many characters is plenty.
MAX_RUN_NAME_LENGTH = 512

# How long a "no study under the logdir" answer of `is_active()` is trusted before rescanning.
INACTIVE_RESCAN_SECONDS = 10.0
