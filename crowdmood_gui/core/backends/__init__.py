"""Analysis backends behind one interface (``base.AnalysisBackend``)."""

from __future__ import annotations

from datetime import datetime

from crowdmood_gui.core.backends.base import AnalysisBackend
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import ConfigError


def make_backend(config: AppConfig, *, session: str, session_start: datetime, realtime: bool) -> AnalysisBackend:
    """The backend ``config.backend`` names. Local: analysis mode (files) keeps every crop;
    live mode takes crops up to its share of a core (``expression.live_core_share``) and
    drops crops rather than lag. AWS: needs the resources ``crowdmood setup`` made."""
    if config.backend == "aws":
        if not config.aws.bucket:
            raise ConfigError(
                "the AWS backend has no bucket configured: run Setup > AWS setup wizard "
                "(or 'crowdmood setup --yes'), or choose the local backend"
            )
        from crowdmood_gui.core.backends.aws import AwsBackend

        return AwsBackend.from_config(config, session=session, session_start=session_start)
    from crowdmood_gui.core.backends.local import LocalBackend
    from crowdmood_gui.core.expression import ExpressionModel

    crops_dir = None
    if config.privacy.keep_crops:
        from crowdmood_gui.core.sessions import sessions_root

        crops_dir = sessions_root(config) / session / "crops"  # beside the session's records
    return LocalBackend(ExpressionModel.from_config(config.expression), block_when_full=not realtime,
                        crops_dir=crops_dir, core_share=config.expression.live_core_share if realtime else None,
                        thread_nice=config.detection.live_analysis_nice if realtime else 0)
