"""Moved to ``taskplane.messages`` (the run-message contract has one home, outside the
worker); this name stays only until the last importers outside ``backend/`` are updated."""

from taskplane.messages import *  # noqa: F403
from taskplane.messages import __all__ as __all__
