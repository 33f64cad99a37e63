"""Session browser: list, rename, delete with confirmation (refused while recording),
export, import from DynamoDB (moto), replay."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.sessions import create_session, list_sessions, mark_ended
from crowdmood_gui.ui.session_browser import SessionBrowser, open_session_browser


def settle(qtbot, browser, timeout=5000):
    """Wait for the browser's background work (listing, delete, export, import)."""
    qtbot.waitUntil(lambda: not browser.busy, timeout=timeout)


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
    settle(qtbot, browser)
    assert browser.table.rowCount() == 2
    assert browser.summary.text().startswith("2 sessions,")
    assert browser.select(done.id)
    browser.rename_selected("Gala 2025")
    settle(qtbot, browser)
    assert {i.name for i in list_sessions(config)} == {"Gala 2025", "Live now"}
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert browser.select(done.id) and not browser.delete_selected()
    assert browser.table.rowCount() == 2
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert browser.delete_selected()
    settle(qtbot, browser)
    assert browser.table.rowCount() == 1
    assert browser.summary.text().startswith("1 session,")
    # The recording session cannot be deleted.
    assert browser.select(live.id)
    assert not browser.delete_button.isEnabled()
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    assert browser.delete_selected(confirm=False)
    settle(qtbot, browser)
    assert "being recorded" in browser.last_message
    assert browser.table.rowCount() == 1
    assert "video" not in browser.table.item(0, 5).text() or "recording" in browser.table.item(0, 5).text()


def test_export_and_replay_from_the_browser(qtbot, two_sessions, tmp_path):
    config, done, _live = two_sessions
    browser = SessionBrowser(config)
    qtbot.addWidget(browser)
    settle(qtbot, browser)
    browser.select(done.id)
    assert browser.export_selected(tmp_path / "out")
    settle(qtbot, browser)
    written = browser.last_export
    assert set(written) == {"timeline.csv", "faces.csv", "chart.png", "summary.html"}
    window = browser.replay_selected()
    qtbot.waitUntil(lambda: window.replay.data is not None, timeout=5000)
    assert window.replay.data.session.id == done.id
    window.close()  # WA_DeleteOnClose


def test_import_from_dynamodb(qtbot, monkeypatch):
    import boto3
    from datetime import UTC, datetime

    from moto import mock_aws

    from crowdmood_gui.core.records import SESSION_INDEX, CaptureMeta, FaceRecord, FaceResult, record_to_item, to_attribute_values, to_dynamodb_item

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
                            Item=to_attribute_values(to_dynamodb_item(record_to_item(record))))
        browser = SessionBrowser(config, dynamodb_factory=lambda _c: client)
        qtbot.addWidget(browser)
        settle(qtbot, browser)
        assert browser.import_dialog("aws-run")
        assert browser.busy  # the DynamoDB query runs off the GUI thread
        settle(qtbot, browser)
    assert browser.last_message == "imported 5 records into aws-run"
    assert browser.table.rowCount() == 1 and browser.selected().records == 5


def test_listing_and_import_run_off_the_gui_thread(qtbot, two_sessions, monkeypatch):
    """A slow disk walk or DynamoDB query never blocks the window: the GUI thread keeps
    processing events while they run, and the results arrive afterwards."""
    import threading
    import time

    import crowdmood_gui.ui.session_browser as sb

    config, _done, _live = two_sessions
    threads: list[str] = []
    release = threading.Event()
    real_list = sb.list_sessions

    def slow_list(cfg):
        threads.append(threading.current_thread().name)
        release.wait(5)
        return real_list(cfg)

    monkeypatch.setattr(sb, "list_sessions", slow_list)
    started = time.monotonic()
    browser = SessionBrowser(config)
    qtbot.addWidget(browser)
    assert time.monotonic() - started < 3.0 and browser.busy  # the listing is held for 5 s
    assert browser.table.rowCount() == 0 and "Reading" in browser.summary.text()
    release.set()
    settle(qtbot, browser)
    assert browser.table.rowCount() == 2
    assert threads and threads[0] != threading.main_thread().name

    def slow_import(cfg, name, *, dynamodb):
        threads.append(threading.current_thread().name)
        raise sb.CrowdMoodError(f"table {cfg.aws.table} not found")

    monkeypatch.setattr(sb, "import_from_dynamodb", slow_import)
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    assert browser.import_dialog("x")
    settle(qtbot, browser)
    assert threads[-1] != threading.main_thread().name
    assert warnings and "not found" in warnings[0] and "not found" in browser.last_message


def test_buttons_do_not_pass_their_checked_flag_as_an_argument(qtbot, two_sessions, monkeypatch, tmp_path):
    """clicked(bool) must not reach rename_selected(new_name=False) & co."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    config, done, _live = two_sessions
    browser = SessionBrowser(config)
    qtbot.addWidget(browser)
    settle(qtbot, browser)
    assert browser.select(done.id)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Renamed by button", True))
    browser.rename_button.click()
    settle(qtbot, browser)
    assert "Renamed by button" in {i.name for i in list_sessions(config)}
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "by-button"))
    assert browser.select(done.id)
    browser.export_button.click()
    settle(qtbot, browser)
    assert browser.last_export and (tmp_path / "by-button" / "timeline.csv").is_file()
