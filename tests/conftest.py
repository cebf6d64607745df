import os
import shutil
import tempfile

import pytest
import torch


def pytest_configure(config):
    # a brand-new machine per session: no compiled kernel or other cache that an earlier run left behind
    # (servers the tests start inherit it); tests/web/test_cold_start.py goes further, with an empty HOME
    config.fresh_cache = tempfile.mkdtemp(prefix="nanogpt-test-cache-")
    os.environ["XDG_CACHE_HOME"] = config.fresh_cache


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "fresh_cache", ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def _few_threads():
    # the suite runs on 2 cores; keep torch from oversubscribing them when several processes run
    torch.set_num_threads(2)
