"""What a study leaves on disk, written and read without Keras: the Shallue et al. layout,
tfbsz's own files beside it and the one reader of both (`results`, with `file_reading` for safe
reads and `legacy_layout` for studies written before 0.2), steps-to-result summaries (`summary`),
and TensorBoard HParams and per-trial scalars (`tb_logging`, `hparams_logging`).
"""
