import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    # the suite runs on 2 cores; keep torch from oversubscribing them when several processes run
    torch.set_num_threads(2)
