"""Datasets: loading npz/CSV/Parquet, built-in generators, fingerprints."""

from kdaudit.data.dataset import Dataset
from kdaudit.data.loader import load_dataset

__all__ = ["Dataset", "load_dataset"]
