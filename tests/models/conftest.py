"""Makes `model_testdata` (tiny data-set stand-ins for the model tests) importable."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
