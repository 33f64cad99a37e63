"""One module per AWS resource setup makes, each behind :class:`~.base.Resource`.

:data:`SETUP_ORDER` is the order setup ensures them in (each needs the ones before it);
teardown walks :data:`TEARDOWN_ORDER` (the identity is never deleted).
"""

from __future__ import annotations

from crowdmood_gui.core.aws.resources.base import Resource
from crowdmood_gui.core.aws.resources.bucket import Bucket
from crowdmood_gui.core.aws.resources.dashboard import Dashboard
from crowdmood_gui.core.aws.resources.failure_queue import FailureQueue
from crowdmood_gui.core.aws.resources.function import Function
from crowdmood_gui.core.aws.resources.identity import Identity
from crowdmood_gui.core.aws.resources.log_group import LogGroup
from crowdmood_gui.core.aws.resources.notification import Notification
from crowdmood_gui.core.aws.resources.permission import Permission
from crowdmood_gui.core.aws.resources.role import Role
from crowdmood_gui.core.aws.resources.table import Table

SETUP_ORDER: tuple[Resource, ...] = (
    Identity(), Table(), Bucket(), LogGroup(), Role(), Function(), FailureQueue(), Permission(), Notification(), Dashboard(),
)
BY_KEY: dict[str, Resource] = {r.key: r for r in SETUP_ORDER}
TEARDOWN_ORDER: tuple[str, ...] = (
    "notification", "permission", "dashboard", "function", "failure_queue", "role", "log_group", "bucket", "table",
)
