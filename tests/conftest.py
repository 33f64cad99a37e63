"""Shared test set-up: offscreen Qt, no real AWS, test media paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from crowdmood_gui.core.resources import LAMBDA_SOURCE, bundled_dir

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

# The Lambda's modules import each other flat, as in its zip (``lambda`` is a keyword and
# the folder is no package); its tests' shared moto/Stubber helpers live beside them.
for _path in (str(bundled_dir(LAMBDA_SOURCE)), str(Path(__file__).parent / "lambda")):
    if _path not in sys.path:
        sys.path.insert(0, _path)


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


def _secure_transport_aware_permission(self, action, resource):
    """moto ignores policy conditions, so the setup's TLS-only Deny would deny every request.

    Evaluate the bucket policy as S3 does for an HTTPS request (botocore always uses HTTPS
    here): a Deny conditioned on ``aws:SecureTransport = false`` does not apply.
    """
    import json

    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    doc = json.loads(self.policy)
    statements = [
        s for s in doc.get("Statement", [])
        if ((s.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport") != "false"
    ]
    if not statements:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**doc, "Statement": statements})).is_action_permitted(action, resource)


@pytest.fixture
def moto_aws(monkeypatch):
    """moto for every service, with S3 bucket policies evaluated as for HTTPS requests;
    yields a boto3 session in us-east-1."""
    import boto3
    from moto import mock_aws
    from moto.s3.models import FakeBucket

    monkeypatch.setattr(FakeBucket, "get_permission", _secure_transport_aware_permission)
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")



class MemoryKeyring:
    """An in-memory keyring backend: tests never touch the machine's real keychain."""

    def __init__(self) -> None:
        from keyring.backend import KeyringBackend

        outer = self
        self.passwords: dict[tuple[str, str], str] = {}

        class _Backend(KeyringBackend):
            priority = 1

            def get_password(self, service, username):
                return outer.passwords.get((service, username))

            def set_password(self, service, username, password):
                outer.passwords[(service, username)] = password

            def delete_password(self, service, username):
                from keyring.errors import PasswordDeleteError

                if outer.passwords.pop((service, username), None) is None:
                    raise PasswordDeleteError(username)

        self.backend = _Backend()


@pytest.fixture(autouse=True)
def fake_keyring():
    """Every test runs against an in-memory keychain (``fake_keyring.passwords``)."""
    import keyring

    from crowdmood_gui.core import secrets

    previous = keyring.get_keyring() if keyring.core._keyring_backend is not None else None
    memory = MemoryKeyring()
    keyring.set_keyring(memory.backend)
    secrets._this_run.clear()  # the URLs typed "during this run" belong to one test
    yield memory
    secrets._this_run.clear()
    if previous is not None:
        keyring.set_keyring(previous)
