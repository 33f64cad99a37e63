"""``crowdmood`` (no subcommand): the console.

``run_console(args)`` builds the QApplication, loads the configuration (file + flags),
shows the window, starts a session on ``--source`` (or the configured source), and runs
the event loop. ``--exit-after N`` closes the window cleanly after N seconds (the same
path as the user closing it); ``--stats-out FILE`` then writes the measured figures:

    {"display_fps", "detection_fps", "latency_p50_ms", "latency_p95_ms",
     "records_analysed", "peak_rss_mb", "cpu_cores", "frames_painted",
     "first_frame_s" (session start -> first frame), "start_to_first_frame_s" (process
     start -> first frame), "wall_s"}

``cpu_cores`` is this process's CPU time (all threads) over the wall time of the run.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from crowdmood_gui.core.flags import config_overrides
from crowdmood_gui.core.config import RESOURCES_DIR, load_config
from crowdmood_gui.core.process_stats import process_figures, tune_gc_for_live, tune_malloc_for_frames, write_stats

log = logging.getLogger(__name__)

APP_ICON = RESOURCES_DIR / "icons" / "crowdmood.svg"


def apply_dark_theme(app) -> None:
    """Fusion with a dark palette: the video and the chart read better on dark."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    palette = QPalette()
    roles = QPalette.ColorRole
    palette.setColor(roles.Window, QColor("#202124"))
    palette.setColor(roles.WindowText, QColor("#E8EAED"))
    palette.setColor(roles.Base, QColor("#17181A"))
    palette.setColor(roles.AlternateBase, QColor("#2A2B2E"))
    palette.setColor(roles.ToolTipBase, QColor("#2A2B2E"))
    palette.setColor(roles.ToolTipText, QColor("#E8EAED"))
    palette.setColor(roles.Text, QColor("#E8EAED"))
    palette.setColor(roles.Button, QColor("#2D2E31"))
    palette.setColor(roles.ButtonText, QColor("#E8EAED"))
    palette.setColor(roles.BrightText, QColor("#FF8A80"))
    palette.setColor(roles.Highlight, QColor("#3D7BD9"))
    palette.setColor(roles.HighlightedText, QColor("#FFFFFF"))
    palette.setColor(roles.Link, QColor("#8AB4F8"))
    palette.setColor(roles.PlaceholderText, QColor("#8A8D91"))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(disabled, role, QColor("#6B6E72"))
    app.setPalette(palette)


class _ExceptHook:
    """Log an uncaught exception in a Qt slot and show it, instead of dying silently."""

    def __init__(self, window_getter) -> None:
        self._window = window_getter
        self._previous = sys.excepthook
        self._showing = False

    def __call__(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception:\n%s", text)
        print(text, file=sys.stderr)
        window = self._window()
        if window is None or self._showing:
            return
        try:
            self._showing = True
            window.show_message("Internal error", f"{exc_type.__name__}: {exc}\n\nThe console keeps running; details are in the log.")
        finally:
            self._showing = False

    def install(self) -> None:
        sys.excepthook = self

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self._previous


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_LOG = "console.log"  # in the data folder, beside sessions/


def open_console_log(config: Any) -> logging.Handler | None:
    """Also log to ``<data folder>/console.log`` (1 MB, 3 old files kept): a console started
    from the desktop has no terminal, and drops, reconnects and failures must be findable
    afterwards. None (said once on stderr) when the folder cannot be written."""
    from logging.handlers import RotatingFileHandler

    path = config.data_home() / CONSOLE_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        log.warning("no log file (%s): logging to the terminal only", exc)
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    return handler


def run_console(args: Any) -> int:
    """The console's main loop. Returns the process exit code."""
    started_wall, started_cpu = time.monotonic(), time.process_time()
    tune_malloc_for_frames()
    config_path = getattr(args, "config", None)
    config = load_config(config_path, config_overrides(args))  # ConfigError: one line, exit 2
    stats_out = getattr(args, "stats_out", None)
    if stats_out:
        from crowdmood_gui.core.export import check_writable

        check_writable(Path(stats_out))  # not a traceback after the whole run

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    from crowdmood_gui import __version__
    from crowdmood_gui.ui.main_window import MainWindow

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    console_log = open_console_log(config)
    app = QApplication.instance()
    own_app = app is None
    if own_app:
        QApplication.setApplicationName("crowdmood")
        QApplication.setApplicationDisplayName("crowdmood")
        QApplication.setApplicationVersion(__version__)
        QApplication.setDesktopFileName("crowdmood")
        app = QApplication(sys.argv[:1])
        apply_dark_theme(app)
    if APP_ICON.exists():
        app.setWindowIcon(QIcon(str(APP_ICON)))
    pg.setConfigOptions(antialias=False, background="#161616", foreground="#BBBBBB")

    window = MainWindow(config, config_path=config_path)
    hook = _ExceptHook(lambda: window)
    hook.install()
    previous_sigint = None
    try:
        previous_sigint = signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.quit_without_asking))
    except ValueError:  # not the main thread (embedded use)
        previous_sigint = None
    # Let Python run its signal handlers while Qt's loop is in C++.
    wakeup = QTimer()
    wakeup.start(250)
    wakeup.timeout.connect(lambda: None)

    screen = app.primaryScreen()
    if screen is not None:  # fill the screen even without a window manager (Xvfb, kiosks)
        window.resize(screen.availableGeometry().size())
    window.showMaximized()  # a booth console owns its screen
    if own_app:  # a process of its own (not a test's host): after the imports and the window
        tune_gc_for_live()
    QTimer.singleShot(0, lambda: window.open_source(config.source.spec, config.source.loop))
    exit_after = getattr(args, "exit_after", None)
    if exit_after is not None:
        QTimer.singleShot(int(max(0.0, float(exit_after)) * 1000), window.quit_without_asking)

    code = 0
    try:
        if own_app:
            window.closed.connect(app.quit)
            code = app.exec()
        else:  # embedded (tests): a local loop, the host's application stays up
            from PySide6.QtCore import QEventLoop

            loop = QEventLoop()
            window.closed.connect(loop.quit)
            if window.isVisible():
                loop.exec()
        window.quit_without_asking()  # idempotent: already closed on the normal path
        app.processEvents()
    finally:
        wakeup.stop()
        hook.uninstall()
        if console_log is not None:
            logging.getLogger().removeHandler(console_log)
            console_log.close()
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)
    if stats_out:
        figures = window.measurements()
        figures.update(process_figures(started_wall, started_cpu, window.live.first_frame_wall))
        try:
            write_stats(stats_out, figures)
            log.info("stats written to %s: %s", stats_out, figures)
        except OSError as exc:
            log.error("cannot write %s: %s", stats_out, exc.strerror or exc)
            print(f"crowdmood: error: cannot write {stats_out}: {exc.strerror or exc}", file=sys.stderr)
            code = code or 2
    if window.live.source_state == "failed":
        # The source never worked: say so in the log and the exit code, not only on screen.
        message = window.errors[-1] if window.errors else "the source could not be opened"
        log.error("source failed: %s", message)
        print(f"crowdmood: error: {message}", file=sys.stderr)
        code = code or 2
    window.deleteLater()
    return int(code)
