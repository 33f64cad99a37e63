"""The console's settings store on its own: the live config and the file, kept apart."""

from __future__ import annotations

import os
import stat

import pytest

from crowdmood_gui.core.config import default_config_path, load_config, save_config
from crowdmood_gui.core.errors import ConfigError, StorageError
from crowdmood_gui.core.secrets import reveal_url
from crowdmood_gui.core.settings_store import MAX_LAST_SOURCES, SettingsStore

SECRET = "0penSesame"
URL = f"rtsp://admin:{SECRET}@192.0.2.10:554/live"
MASKED = "rtsp://admin:***@192.0.2.10:554/live"


def test_a_change_reaches_the_live_config_and_the_file_but_not_the_flags():
    store = SettingsStore(load_config(overrides={"backend": "aws", "session": "from-flags"}))
    live = store.config
    store.change(lambda c: setattr(c.ui, "period_s", 10))
    assert store.config is live and live.ui.period_s == 10  # changed in place
    saved = load_config()
    assert saved.ui.period_s == 10
    assert saved.backend == "local" and saved.session is None  # the flags stay out of the file
    assert stat.S_IMODE(os.stat(default_config_path()).st_mode) == 0o600


def test_a_refused_value_changes_nothing():
    store = SettingsStore(load_config())
    with pytest.raises(ConfigError, match=r"^Setting not applied: setting .period_s.: Value error, must be one of 1, 10, 60 \(seconds\)$"):
        store.change(lambda c: setattr(c.ui, "period_s", 7))
    assert store.config.ui.period_s == 1
    assert not default_config_path().exists()
    # Several fields at once: one refused, none applied.
    with pytest.raises(ConfigError, match="Setting not applied"):
        store.apply({"sampling": {"interval_s": 3.5}, "detection": {"max_side": 50}})
    assert store.config.sampling.interval_s != 3.5


def test_a_file_that_cannot_be_written_is_said_and_the_live_value_kept(tmp_path):
    folder = tmp_path / "settings-is-a-file"
    folder.write_text("not a folder")
    store = SettingsStore(load_config(), folder / "config.toml")
    with pytest.raises(StorageError, match="^Settings not saved: "):
        store.change(lambda c: setattr(c.privacy, "blur_faces", True))
    assert store.config.privacy.blur_faces is True  # this run keeps what the operator chose


def test_apply_the_dialogs_changes():
    store = SettingsStore(load_config())
    store.apply({"sampling": {"interval_s": 3.5}, "privacy": {"blur_faces": True, "show_recent_faces": False}})
    assert store.config.sampling.interval_s == 3.5 and store.config.privacy.blur_faces is True
    saved = load_config()
    assert saved.sampling.interval_s == 3.5 and saved.privacy.show_recent_faces is False


def test_remember_source_keeps_the_url_masked_and_the_list_short(fake_keyring):
    store = SettingsStore(load_config())
    for n in range(MAX_LAST_SOURCES + 2):
        store.remember_source(f"clip{n}.mp4", loop=False)
    assert store.remember_source(URL, loop=True) == MASKED
    assert store.config.source.spec == MASKED and store.config.source.loop is True
    assert reveal_url(MASKED) == URL  # what the capture connects with
    store.remember_source("clip9.mp4", loop=False)  # opened again: moves to the front, once
    recent = store.recent_sources()
    assert recent[:3] == ["clip9.mp4", MASKED, "clip8.mp4"] and len(recent) == MAX_LAST_SOURCES
    assert recent.count("clip9.mp4") == 1
    text = default_config_path().read_text()
    assert SECRET not in text and MASKED in text
    assert load_config().ui.last_sources == recent


def test_not_persisting_changes_the_live_config_only():
    store = SettingsStore(load_config(), persist=False)
    store.remember_source("clip.mp4", loop=False)
    assert store.config.source.spec == "clip.mp4"
    assert not default_config_path().exists()


def test_reload_aws_takes_the_setup_from_the_file_into_a_new_live_config():
    store = SettingsStore(load_config(overrides={"session": "from-flags"}))
    before = store.config
    on_disk = load_config()
    on_disk.aws.bucket, on_disk.backend = "crowdmood-faces-abc", "aws"
    save_config(on_disk)
    store.reload_aws()
    assert store.config is not before and before.backend == "local"  # a running session keeps its own
    assert store.config.aws.bucket == "crowdmood-faces-abc" and store.config.backend == "aws"
    assert store.config.session == "from-flags"  # the rest of the live config stays
    default_config_path().write_text("backend = 'nope'\n")
    with pytest.raises(ConfigError, match="^Settings not reloaded: "):
        store.reload_aws()
    assert store.config.backend == "aws"


def test_a_session_starts_on_a_copy_that_becomes_the_live_config():
    store = SettingsStore(load_config(overrides={"session": "from-flags"}), persist=False)
    running = store.config
    config = store.start_config("talk.mp4", False, session="Expo day 1", record_video=True)
    assert store.config is config and config is not running  # the running session keeps its own
    assert (config.source.spec, config.source.loop, config.session, config.recording.record_video) == (
        "talk.mp4", False, "Expo day 1", True)
    assert running.source.spec != "talk.mp4" and running.session == "from-flags"
    # None (or no name): as the live config says.
    again = store.start_config("0", None, session=None, record_video=None)
    assert (again.source.loop, again.session, again.recording.record_video) == (False, "Expo day 1", True)
    assert not default_config_path().exists()  # a session's source is remembered apart (remember_source)


def test_the_aws_backend_without_a_bucket_needs_setting_up():
    assert not load_config().needs_aws_setup()  # local
    assert load_config(overrides={"backend": "aws"}).needs_aws_setup()
    assert not load_config(overrides={"backend": "aws", "aws": {"bucket": "crowdmood-faces-abc"}}).needs_aws_setup()
    assert not load_config(overrides={"aws": {"bucket": "crowdmood-faces-abc"}}).needs_aws_setup()
