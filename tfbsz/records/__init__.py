"""What a study leaves on disk, written and read without Keras: the Shallue et al. layout and
tfbsz's own files (`results`), steps-to-result summaries (`summary`), and TensorBoard HParams
and per-trial scalars (`tb_logging`, `hparams_logging`).
"""
