"""Secrets stay secret (issue #14): a camera URL's password (userinfo or ``?pwd=``) is kept in
the OS keychain (a fake in-memory backend here, see conftest) and masked everywhere a URL is
stored or shown: config.toml, session.db, ``sessions list --json``, summary.html (the Sessions
window: tests/ui), log lines and the CLI's output. The data folder is 0700, config.toml 0600."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat

import pytest

from crowdmood_gui.cli import main
from crowdmood_gui.core.capture import SourceSpec, open_source
from crowdmood_gui.core.config import AppConfig, load_config, save_config
from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.secrets import (
    KEYRING_SERVICE,
    is_masked,
    redact_url,
    remember_url,
    reveal_url,
)
from crowdmood_gui.core.sessions import create_session, list_sessions, mark_ended

SECRET = "s3cr3t-Pa55"
QSECRET = "hunter2"
URL = f"rtsp://admin:{SECRET}@10.0.0.7:554/live?channel=1&pwd={QSECRET}"
MASKED = "rtsp://admin:***@10.0.0.7:554/live?channel=1&pwd=***"


@pytest.mark.parametrize("url, shown", [
    (URL, MASKED),
    (f"http://cam.local/video?user=admin&password={SECRET}", "http://cam.local/video?user=admin&password=***"),
    (f"http://cam.local/mjpg?PWD={SECRET}#x", "http://cam.local/mjpg?PWD=***#x"),
    (f"https://:{SECRET}@cam.local/", "https://:***@cam.local/"),
    ("rtsp://admin@cam.local/live", "rtsp://admin@cam.local/live"),  # no password: unchanged
    ("http://cam.local/v?pwd=", "http://cam.local/v?pwd="),
    (f"http://u:{SECRET}@[::1", "http://u:***@[::1"),  # not even a valid URL: still masked
    ("/videos/talk.mp4", "/videos/talk.mp4"),
    ("0", "0"),
])
def test_one_helper_masks_userinfo_and_query_passwords(url, shown):
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url) and QSECRET not in redact_url(url)
    if "://" in url and "[::1" not in url:
        assert SourceSpec.parse(url).display_name == shown


def test_the_keychain_holds_the_password_and_gives_it_back(fake_keyring):
    stored = remember_url(URL)
    assert stored == MASKED and is_masked(stored)
    assert fake_keyring.passwords == {(KEYRING_SERVICE, MASKED): URL}
    assert reveal_url(stored) == URL
    assert reveal_url("rtsp://cam.local/live") == "rtsp://cam.local/live"  # nothing to reveal


def test_a_password_missing_from_the_keychain_asks_for_it_again(fake_keyring):
    with pytest.raises(InputError, match=r"password of rtsp://admin:\*\*\*@10.0.0.7.* not in this computer's keychain"):
        reveal_url(MASKED)
    with pytest.raises(InputError, match="keychain"):
        open_source(MASKED)  # the one place a URL is opened reveals it first


def test_a_url_typed_in_this_run_works_without_a_keychain():
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    keyring.set_keyring(FailKeyring())
    assert reveal_url(remember_url(URL)) == URL  # asked once per run, not once per start


def test_no_keychain_still_never_writes_the_password(monkeypatch, caplog):
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    keyring.set_keyring(FailKeyring())
    with caplog.at_level(logging.WARNING):
        assert remember_url(URL) == MASKED
    assert "will be asked again" in caplog.text and SECRET not in caplog.text


def test_config_toml_keeps_masked_urls_and_is_private(tmp_path, fake_keyring):
    path = tmp_path / "cfg" / "config.toml"
    config = AppConfig()
    config.source.spec = URL
    config.ui.last_sources = [URL, "/videos/a.mp4", f"http://u:{SECRET}@cam/v"]
    save_config(config, path)
    text = path.read_text()
    assert SECRET not in text and QSECRET not in text
    assert MASKED in text and "/videos/a.mp4" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # In memory the running console still has the real URL; reloaded, the keychain gives it back.
    assert config.source.spec == URL
    reloaded = load_config(path)
    assert reloaded.source.spec == MASKED and reveal_url(reloaded.source.spec) == URL


def test_config_written_over_an_old_0644_file_becomes_0600(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('camera = "x"\n')
    path.chmod(0o644)
    save_config(AppConfig(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _session_with_url():
    config = load_config()
    session = create_session(config, "Door cam", source=URL)
    mark_ended(session)
    return config, session


def test_session_db_stores_the_masked_url_and_the_data_folder_is_private():
    config, session = _session_with_url()
    raw = session.db_path.read_bytes()
    assert SECRET.encode() not in raw and QSECRET.encode() not in raw
    assert session.meta()["source"] == MASKED
    assert stat.S_IMODE(config.data_home().stat().st_mode) == 0o700


@pytest.mark.slow
def test_pipeline_settings_in_session_db_are_masked(data_dir):
    from crowdmood_gui.core.pipeline import Pipeline

    config = load_config(overrides={"source": {"spec": str(data_dir / "single_face.mp4"), "loop": False}})
    config.ui.last_sources = [URL]  # the settings snapshot the pipeline stores holds these too
    session = create_session(config, "settings", source=config.source.spec)
    Pipeline(config, None, realtime=False, store=session.open_store(), session_name=session.id).run()
    mark_ended(session)
    raw = session.db_path.read_bytes()
    assert SECRET.encode() not in raw and QSECRET.encode() not in raw
    assert MASKED in json.dumps(session.meta()["settings"])


def test_an_old_session_with_a_plain_password_is_shown_masked():
    config = load_config()
    session = create_session(config, "old", source="x")
    db = sqlite3.connect(session.db_path)
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'source'", (json.dumps(URL),))
    db.close()
    mark_ended(session)
    assert [i.source for i in list_sessions(config)] == [MASKED]


def test_sessions_list_json_is_masked(capsys):
    _session_with_url()
    assert main(["sessions", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out and QSECRET not in out
    assert json.loads(out.splitlines()[0])["source"] == MASKED


def test_summary_html_is_masked(tmp_path):
    from crowdmood_gui.core.export import export_session

    _, session = _session_with_url()
    written = export_session(session, tmp_path / "out")
    html = written["summary.html"].read_text()
    assert SECRET not in html and QSECRET not in html
    assert "admin:***@10.0.0.7" in html


def test_log_lines_and_cli_errors_never_carry_the_password(capsys, caplog):
    from mjpeg_server import closed_port

    url = f"http://admin:{SECRET}@127.0.0.1:{closed_port()}/video?pwd={QSECRET}"
    with caplog.at_level(logging.DEBUG):
        code = main(["analyze", url])
    err = capsys.readouterr().err
    assert code == 2 and "127.0.0.1" in err
    assert SECRET not in err and QSECRET not in err
    assert SECRET not in caplog.text and QSECRET not in caplog.text
