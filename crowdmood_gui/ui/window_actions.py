"""The console window's actions, menus and toolbar (qutebrowser keeps its window's bars
apart from the window the same way).

:func:`build_actions` makes every ``window.act_*`` (text, shortcut, icon, tip) and binds it
to the window's slot; :func:`build_menus_and_toolbar` places them; :func:`show_session_state`
enables them for a session state. The window only calls these; what each action does
stays the window's (and behind it the session controller's and ``core``'s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QStyle

from crowdmood_gui.ui.session_state import IDLE, PAUSED, RUNNING, STARTING
from crowdmood_gui.ui.status_bar import source_display_name

if TYPE_CHECKING:
    from crowdmood_gui.ui.main_window import MainWindow


def full_screen_icon(colour: str = "#E8EAED") -> QIcon:
    """Four corner brackets. The style's SP_TitleBarMaxButton is drawn for a title bar:
    on the dark toolbar it showed as an empty dark square."""
    icon = QIcon()
    for size in (16, 24, 32):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(colour), max(1.5, size / 12))
        painter.setPen(pen)
        m, arm = size * 0.15, size * 0.3
        lo, hi = m, size - m
        for x, y, dx, dy in ((lo, lo, 1, 1), (hi, lo, -1, 1), (lo, hi, 1, -1), (hi, hi, -1, -1)):
            painter.drawLine(QPointF(x, y), QPointF(x + dx * arm, y))
            painter.drawLine(QPointF(x, y), QPointF(x, y + dy * arm))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def make_action(window: MainWindow, text: str, slot: Callable, shortcut=None, *, icon=None, checkable=False,
                tip: str = "") -> QAction:
    """One window action: its shortcut works anywhere in the window, its tip is also the
    status bar's text."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if icon is not None:
        action.setIcon(window.style().standardIcon(icon) if isinstance(icon, QStyle.StandardPixmap) else icon)
    action.setCheckable(checkable)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    return action


def build_actions(window: MainWindow) -> None:
    """Every action of the window, as ``window.act_*``."""
    w, sp, act = window, QStyle.StandardPixmap, make_action
    w.act_open_video = act(w, "Open &video…", lambda: w.show_source_dialog(1), QKeySequence.StandardKey.Open, icon=sp.SP_DialogOpenButton, tip="Open a video file")
    w.act_open_camera = act(w, "Open &camera…", lambda: w.show_source_dialog(0), "Ctrl+Shift+O", icon=sp.SP_ComputerIcon, tip="Open a camera")
    w.act_open_url = act(w, "Open &URL…", lambda: w.show_source_dialog(2), "Ctrl+U", icon=sp.SP_DriveNetIcon, tip="Open an RTSP or HTTP MJPEG stream")
    w.act_settings = act(w, "&Settings…", w.show_settings, "Ctrl+,", icon=sp.SP_FileDialogDetailedView, tip="Analysis and privacy settings")
    w.act_sessions = act(w, "Sess&ions…", w.show_sessions, "Ctrl+Shift+S", icon=sp.SP_DirIcon, tip="Recorded sessions: replay, export, delete")
    w.act_quit = act(w, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.act_start = act(w, "&Start", w.start_or_resume, "F5", icon=sp.SP_MediaPlay, tip="Start (or resume) the session (F5)")
    w.act_pause = act(w, "&Pause", w.toggle_pause, Qt.Key.Key_Space, icon=sp.SP_MediaPause, tip="Pause / resume (Space)")
    w.act_stop = act(w, "S&top", w.stop_and_offer_export, "Shift+F5", icon=sp.SP_MediaStop, tip="Stop the session (Shift+F5)")
    w.act_export = act(w, "&Export…", w.export_dialog, "Ctrl+E", icon=sp.SP_DialogSaveButton, tip="Export the last session: timeline and faces CSV, chart, summary (Ctrl+E)")
    w.act_full_screen = act(w, "&Full screen", w.toggle_full_screen, Qt.Key.Key_F11, checkable=True, icon=full_screen_icon(), tip="Full screen (F11)")
    w.act_kiosk = act(w, "&Kiosk chart window", w.show_kiosk, "Ctrl+K", icon=sp.SP_DesktopIcon, tip="A big chart for a second screen (Ctrl+K)")
    w.act_faces = act(w, "&Recent faces", w.set_recent_faces_visible, "Ctrl+R", checkable=True, tip="Show analysed faces (off for privacy)")
    w.act_faces.setChecked(w.config.privacy.show_recent_faces)
    w.act_blur = act(w, "&Blur faces", w.set_blur_faces, "Ctrl+B", checkable=True, tip="Blur every face on screen, in the recent faces, the recorded video and kept crops")
    w.act_blur.setChecked(w.config.privacy.blur_faces)
    w.act_aws_setup = act(w, "&AWS setup wizard…", w.open_aws_setup)
    w.act_aws_teardown = act(w, "&Tear down AWS…", w.open_aws_teardown)
    w.act_booths = act(w, "All &booths…", w.show_booths, tip="Every booth on the AWS account: state and crowd lines")
    w.act_about = act(w, "&About crowdmood", w.show_about, QKeySequence.StandardKey.HelpContents)


def build_menus_and_toolbar(window: MainWindow) -> None:
    """The menu bar (with the REC badge in its corner), File ▸ Open recent and the toolbar."""
    w = window
    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addActions([w.act_open_video, w.act_open_camera, w.act_open_url])
    w.recent_menu = file_menu.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(w._fill_recent_menu)
    file_menu.addSeparator()
    file_menu.addAction(w.act_sessions)
    file_menu.addAction(w.act_export)
    file_menu.addAction(w.act_settings)
    file_menu.addSeparator()
    file_menu.addAction(w.act_quit)
    view_menu = menu.addMenu("&View")
    view_menu.addActions([w.act_full_screen, w.act_kiosk])
    view_menu.addSeparator()
    view_menu.addActions([w.act_faces, w.act_blur])
    view_menu.addSeparator()
    view_menu.addAction(w.act_booths)
    session_menu = menu.addMenu("&Session")
    session_menu.addActions([w.act_start, w.act_pause, w.act_stop])
    setup_menu = menu.addMenu("Set&up")
    setup_menu.addActions([w.act_aws_setup, w.act_aws_teardown])
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(w.act_about)

    toolbar = w.addToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addActions([w.act_open_video, w.act_open_camera, w.act_open_url])
    toolbar.addSeparator()
    toolbar.addActions([w.act_start, w.act_pause, w.act_stop, w.act_export])
    toolbar.addSeparator()
    toolbar.addActions([w.act_kiosk, w.act_full_screen, w.act_settings])
    # The REC badge in the menu bar's corner: never pushed into a toolbar's overflow.
    menu.setCornerWidget(w.rec_badge, Qt.Corner.TopRightCorner)


def fill_recent_menu(menu: QMenu, sources: list[str], open_source: Callable[[str], object]) -> None:
    """File ▸ Open recent: one entry per remembered source (shown without its password)."""
    menu.clear()
    if not sources:
        action = menu.addAction("(none yet)")
        action.setEnabled(False)
        return
    for spec in sources:
        action = menu.addAction(source_display_name(spec))
        action.setToolTip(source_display_name(spec))
        action.triggered.connect(lambda _checked=False, s=spec: open_source(s))


def show_session_state(window: MainWindow, state: str, *, can_export: bool) -> None:
    """Enable the session's actions for ``state``. One rule: Start only when nothing runs;
    Pause/Resume only on a running or paused session; Stop whenever a session exists;
    Export once a session was recorded (``can_export``) and none runs."""
    w = window
    w.act_start.setEnabled(state == IDLE)
    w.act_pause.setEnabled(state in (RUNNING, PAUSED))
    w.act_pause.setText("&Resume" if state == PAUSED else "&Pause")
    w.act_pause.setIcon(w.style().standardIcon(
        QStyle.StandardPixmap.SP_MediaPlay if state == PAUSED else QStyle.StandardPixmap.SP_MediaPause))
    w.act_stop.setEnabled(state in (STARTING, RUNNING, PAUSED))
    w.act_export.setEnabled(state == IDLE and can_export)
