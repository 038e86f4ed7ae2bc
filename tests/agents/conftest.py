"""Agent tests run torch on one intra-op thread: tiny tensors are fastest that way, and immune to
other processes holding the cores."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
