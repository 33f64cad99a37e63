"""UI test set-up: every test here fails on a Qt warning (pytest-qt's log capture),
except the offscreen platform's own noise; windows use the fake pipeline unless a test
asks for the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

import pyqtgraph as pg

HERE = Path(__file__).parent
# The offscreen platform cannot do some window-manager things; these are not our bugs.
OFFSCREEN_NOISE = (
    r"This plugin does not support propagateSizeHints\(\)",
    r"This plugin does not support raise\(\)",
    r"This plugin does not support grabbing the keyboard",
)


def pytest_collection_modifyitems(config, items):
    # Every module in this folder (console, wizard, replay, session browser) is strict.
    for item in items:
        path = Path(str(item.fspath))
        if path.parent == HERE and path.name.startswith("test_"):
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOISE))


@pytest.fixture(autouse=True)
def _pyqtgraph_options():
    pg.setConfigOptions(antialias=False)


@pytest.fixture
def make_window(qtbot):
    """Build a MainWindow on a fake (or given) pipeline factory, run by the real SessionRun
    (or on the given ``sessions`` factory); closed after the test."""
    from crowdmood_gui.core.config import load_config
    from crowdmood_gui.ui.main_window import MainWindow

    from fakes import fake_factory, session_factory

    windows = []

    def make(factory=None, config=None, show=True, sessions=None, **fake_kwargs):
        cfg = config if config is not None else load_config()
        sessions = sessions or session_factory(factory or fake_factory(**fake_kwargs))
        window = MainWindow(cfg, session_factory=sessions)
        qtbot.addWidget(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.quit_without_asking()
