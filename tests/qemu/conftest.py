"""pytest set-up for the QEMU tier: the kernel must be built (make test does it)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import vm  # noqa: E402


def pytest_sessionstart(session):
    if not os.path.exists(vm.KERNEL):
        pytest.exit(f"{vm.KERNEL} is missing: run make first", returncode=2)


@pytest.fixture
def boot(request):
    """boot(cmdline=..., machine=..., ...) named after the running test."""
    def _boot(**kw):
        return vm.boot(request.node.name, **kw)
    return _boot
