from datetime import UTC, datetime

import pytest

from crowdmood_gui.core.backends import make_backend
from crowdmood_gui.core.backends.aws import AwsBackend
from crowdmood_gui.core.backends.local import LocalBackend
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import ConfigError

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_local_is_the_default_and_keeps_crops_in_the_session_folder():
    config = AppConfig()
    config.privacy.keep_crops = True
    backend = make_backend(config, session="expo", session_start=NOW, realtime=True)
    assert isinstance(backend, LocalBackend)
    assert backend._crops_dir == config.data_home() / "sessions" / "expo" / "crops"
    assert make_backend(AppConfig(), session="x", session_start=NOW, realtime=False)._crops_dir is None


def test_aws_needs_a_bucket_with_advice():
    config = AppConfig(backend="aws")
    with pytest.raises(ConfigError, match="no bucket configured.*crowdmood setup"):
        make_backend(config, session="s", session_start=NOW, realtime=True)


def test_aws_backend_from_config():
    config = AppConfig(backend="aws")
    config.aws.bucket = "crowdmood-faces-abc"
    config.aws.region = "us-east-1"
    backend = make_backend(config, session="s", session_start=NOW, realtime=True)
    assert isinstance(backend, AwsBackend) and not backend.provides_timeline  # the pipeline draws the crowd (#13)
    backend.set_period(10)
    assert backend.period_s == 10
