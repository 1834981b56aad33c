"""Shared fixtures. Each area keeps its own helpers in its test files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED_DATA.exists():
    SHARED_DATA = Path(os.environ.get("KDAUDIT_SHARED_DATA", "/nonexistent"))


@pytest.fixture
def shared_data() -> Path:
    """The public datasets in ../shared/data (skips when the folder is absent)."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is absent (set KDAUDIT_SHARED_DATA to its path)")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
