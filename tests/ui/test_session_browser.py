"""Session browser: list, rename, delete with confirmation (refused while recording),
export, import from DynamoDB (moto), replay."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.sessions import create_session, list_sessions, mark_ended
from crowdmood_gui.ui.session_browser import SessionBrowser, open_session_browser


@pytest.fixture
def two_sessions():
    config = load_config()
    done = create_session(config, "Gala", source="cam")
    mark_ended(done)
    live = create_session(config, "Live now", source="cam")  # this process holds its lock
    return config, done, live


def test_lists_renames_and_deletes_after_confirmation(qtbot, two_sessions, monkeypatch):
    config, done, live = two_sessions
    browser = open_session_browser(None, config)
    qtbot.addWidget(browser)
    assert browser.table.rowCount() == 2
    assert browser.select(done.id)
    browser.rename_selected("Gala 2025")
    assert {i.name for i in list_sessions(config)} == {"Gala 2025", "Live now"}
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert browser.select(done.id) and not browser.delete_selected()
    assert browser.table.rowCount() == 2
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert browser.delete_selected()
    assert browser.table.rowCount() == 1
    # The recording session cannot be deleted.
    assert browser.select(live.id)
    assert not browser.delete_button.isEnabled()
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    assert not browser.delete_selected(confirm=False)
    assert "being recorded" in browser.last_message
    assert "video" not in browser.table.item(0, 5).text() or "recording" in browser.table.item(0, 5).text()


def test_export_and_replay_from_the_browser(qtbot, two_sessions, tmp_path):
    config, done, _live = two_sessions
    browser = SessionBrowser(config)
    qtbot.addWidget(browser)
    browser.select(done.id)
    written = browser.export_selected(tmp_path / "out")
    assert set(written) == {"timeline.csv", "faces.csv", "chart.png", "summary.html"}
    window = browser.replay_selected()
    assert window.replay.data.session.id == done.id
    window.close()  # WA_DeleteOnClose


def test_import_from_dynamodb(qtbot, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from datetime import UTC, datetime

    from moto import mock_aws

    from crowdmood_gui.core.records import SESSION_INDEX, CaptureMeta, FaceRecord, FaceResult, record_to_item, to_dynamodb_item

    config = load_config()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=config.aws.table,
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("s3key", "session", "captured_at")],
            KeySchema=[{"AttributeName": "s3key", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": SESSION_INDEX, "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "session", "KeyType": "HASH"},
                                                   {"AttributeName": "captured_at", "KeyType": "RANGE"}]}],
            BillingMode="PAY_PER_REQUEST",
        )
        face = FaceResult({"Left": 0.1, "Top": 0.1, "Width": 0.3, "Height": 0.3}, {"HAPPY": 80.0, "CALM": 20.0}, "HAPPY", 99.0)
        for i in range(5):
            record = FaceRecord(f"faces/aws-run/{i}.jpg", CaptureMeta("aws-run", "booth-1", datetime(2025, 1, 1, 12, 0, i, tzinfo=UTC), 1), (face,))
            client.put_item(TableName=config.aws.table,
                            Item={k: boto3.dynamodb.types.TypeSerializer().serialize(v) for k, v in to_dynamodb_item(record_to_item(record)).items()})
        browser = SessionBrowser(config, dynamodb_factory=lambda _c: client)
        qtbot.addWidget(browser)
        browser.import_dialog("aws-run")
    assert browser.last_message == "imported 5 records into aws-run"
    assert browser.table.rowCount() == 1 and browser.selected().records == 5
