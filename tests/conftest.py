"""Shared test set-up: offscreen Qt, no real AWS, test media paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Belt and braces: no test may reach a real AWS account.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Sessions, config and store go to a temporary home, never the user's."""
    home = tmp_path / "crowdmood-home"
    monkeypatch.setenv("CROWDMOOD_HOME", str(home))
    monkeypatch.delenv("CROWDMOOD_CONFIG", raising=False)
    return home
