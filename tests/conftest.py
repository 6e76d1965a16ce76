import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test: failures reproduce exactly."""
    return np.random.default_rng(231)
