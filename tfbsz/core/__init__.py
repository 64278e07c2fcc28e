"""The Keras-free core: errors, the component registry and the checked study config.

Nothing here imports Keras or TensorFlow, so the command line can check a config and answer
`--help` or a bad input at once.
"""
