"""The benchmarks run as scripts from benchmarks/ and import the harness as ``harness``;
the tests import them the same way."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
