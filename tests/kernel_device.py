"""Where the fused Triton kernels' tests run: CUDA, the CPU in Triton's interpreter, or nowhere.

``DEVICE``: "cuda" with Triton and a GPU; "cpu" with ``TRITON_INTERPRET=1`` set; None
otherwise, where ``needs_kernel`` skips. ``untuned``: an autouse fixture for the test
modules that import it, so they take the first tile instead of timing every tile for
every test shape.
"""
import pytest
import torch

from optsuite.engine import fused

if fused.triton is None:
    DEVICE = None
elif torch.cuda.is_available() and not fused.interpreted():
    DEVICE = "cuda"
else:
    DEVICE = "cpu" if fused.interpreted() else None
needs_kernel = pytest.mark.skipif(DEVICE is None, reason="needs Triton with CUDA, or TRITON_INTERPRET=1")


@pytest.fixture(autouse=True)
def untuned(monkeypatch):
    """Tests take the first tile: tuning every test shape would compile every tile for each."""
    monkeypatch.setattr(fused, "TUNE", False)
