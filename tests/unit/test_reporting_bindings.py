"""Reporting's queue is bound to exactly the events its read models are built from."""
import inspect
import re

from services.reporting import projections
from services.reporting.service import CONSUMED


def test_every_projected_event_type_is_bound_and_nothing_else():
    source = inspect.getsource(projections.Projection.apply)
    projected = set(re.findall(r'event_type == "([a-z_]+)"', source)) \
        | set(projections.PARTICIPANT_DELTAS)
    bound = {key for _, key in CONSUMED}
    assert projected - bound == set()
    # targets_changed is archived (a rebuild keeps it) but targets are written by the RPC
    assert bound - projected == {"targets_changed"}
    assert "#" not in bound and "contribution_recorded" not in bound
