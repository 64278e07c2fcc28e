"""Names shared by the "Steps to target" plugin's backend, frontend and tests.

>>> from tfbsz.tb_plugin import metadata
>>> metadata.PLUGIN_NAME, metadata.TAB_NAME
('tfbsz', 'Steps to target')
"""

# URL prefix of every route (`/data/plugin/tfbsz/...`) and the `#tfbsz` fragment of the tab.
PLUGIN_NAME = "tfbsz"

# Label of the tab in TensorBoard's navigation bar.
TAB_NAME = "Steps to target"

# A run name is a study folder relative to the logdir (Linux paths have at most 4096 bytes).
# `/runs` lists only names `/study` accepts (`_files.run_name_problem`).
MAX_RUN_NAME_LENGTH = 4096

# How long a scan of the logdir for studies (the run list) is reused before the next one.
RUNS_RESCAN_SECONDS = 5.0

# Loaded studies kept in memory (each reloaded only when one of its files changes): at most this
# many, holding at most CACHE_BYTES of files together (a study's rows take about 9x its CSV bytes).
CACHED_STUDIES = 8
CACHE_BYTES = 256 * 2**20

# The largest total size of a study's files that the dashboard loads (the report has no limit
# but `tfbsz.records.file_reading`'s per-file caps). One workload of Shallue et al.'s data fits.
MAX_STUDY_BYTES = 128 * 2**20

# Answers of /study kept per loaded study and target (dropped with the study).
CACHED_ANSWERS = 32

# How long a "no study under the logdir" answer of `is_active()` is trusted before rescanning.
INACTIVE_RESCAN_SECONDS = 10.0
