"""The training parts a workload is assembled from, written in `keras.ops` for every backend:
learning-rate and momentum schedules (`schedules`), label smoothing and mixup
(`regularizers`), pruning at initialisation (`pruning`), gradient accumulation
(`accumulation`) and the gradient noise scale (`noise_scale`).
"""
