"""The console never shows or keeps a camera password (issue #14): the window title, the
recent-sources menu (text and tooltip), the Open dialog's list, the Sessions window and the saved config show
the masked URL; the pipeline still connects with the real one (keychain / this run)."""

from __future__ import annotations

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.secrets import reveal_url
from crowdmood_gui.core.sessions import create_session, mark_ended

SECRET = "0penSesame"
URL = f"rtsp://admin:{SECRET}@192.0.2.10:554/live?pwd={SECRET}"
MASKED = "rtsp://admin:***@192.0.2.10:554/live?pwd=***"


def test_an_opened_url_is_shown_and_kept_masked(make_window, qtbot, fake_keyring):
    from crowdmood_gui.ui.source_dialog import SourceDialog

    window = make_window()
    window.open_source(URL)
    assert SECRET not in window.windowTitle() and MASKED in window.windowTitle()
    assert window.config.ui.last_sources[0] == MASKED and window.config.source.spec == MASKED
    assert reveal_url(window.config.source.spec) == URL  # what the capture thread connects with
    saved = load_config()
    assert saved.ui.last_sources[0] == MASKED
    window._fill_recent_menu()
    assert window.recent_menu.actions()
    for action in window.recent_menu.actions():
        assert SECRET not in action.text() and SECRET not in action.toolTip()
    dialog = SourceDialog(window, last_sources=window.config.ui.last_sources)
    qtbot.addWidget(dialog)
    shown = [dialog.url_edit.itemText(i) for i in range(dialog.url_edit.count())] + [dialog.url_edit.currentText()]
    assert MASKED in shown and all(SECRET not in text for text in shown)


def test_an_unparsable_url_is_still_shown_masked():
    from crowdmood_gui.ui.main_window import source_display_name

    assert source_display_name(f"http://op:{SECRET}@[::1") == "http://op:***@[::1"


def test_sessions_window_is_masked(qtbot):
    from crowdmood_gui.ui.session_browser import open_session_browser

    config = load_config()
    mark_ended(create_session(config, "Door cam", source=URL))
    browser = open_session_browser(None, config)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: not browser.busy, timeout=5000)
    cells = [browser.table.item(0, c) for c in range(browser.table.columnCount())]
    shown = " ".join(c.text() + " " + c.toolTip() for c in cells if c is not None)
    assert MASKED in shown and SECRET not in shown
