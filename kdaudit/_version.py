"""The version, written once here; pyproject.toml reads it (``[tool.setuptools.dynamic]``).

A literal rather than ``importlib.metadata.version("kdaudit")``: importing the metadata
machinery costs ~30 ms on every start, and a source tree needs no install to know it.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
