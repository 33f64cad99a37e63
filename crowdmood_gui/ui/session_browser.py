"""Session browser: list (name, start, duration, records, disk usage, video), rename,
delete (with confirmation; refused while recording), replay, export, and import of an
AWS-mode session's records from DynamoDB.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.sessions import (
    SessionInfo,
    delete_session,
    human_bytes,
    import_from_dynamodb,
    list_sessions,
    rename_session,
    sessions_root,
)
from crowdmood_gui.core.summary import fmt_clock
from crowdmood_gui.ui.tasks import run_in_background

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Started", "Duration", "Records", "Disk", "Video", "Source")


def _default_dynamodb(config: AppConfig):
    from crowdmood_gui.core.aws.clients import client, make_session

    return client(make_session(config.aws), "dynamodb")


class _Item(QTableWidgetItem):
    """Sorts by a hidden key (numbers, times) instead of the shown text."""

    def __init__(self, text: str, key: Any = None) -> None:
        super().__init__(text)
        self.key = key if key is not None else text
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other) -> bool:
        try:
            return self.key < other.key
        except TypeError:
            return str(self.key) < str(other.key)


class SessionBrowser(QDialog):
    """``dynamodb_factory(config) -> boto3 DynamoDB client`` is replaceable (tests).

    Listing (disk usage walks every session folder), delete, export and the DynamoDB
    import run in background threads (:func:`~crowdmood_gui.ui.tasks.run_in_background`);
    ``task_finished(str)`` fires on the GUI thread when one ends ("refresh", "delete",
    "export", "import"), after its result or error was shown."""

    task_finished = Signal(str)

    def __init__(
        self,
        config: AppConfig,
        parent: QWidget | None = None,
        *,
        dynamodb_factory: Callable[[AppConfig], Any] | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.dynamodb_factory = dynamodb_factory or _default_dynamodb
        self.infos: list[SessionInfo] = []
        self.setWindowTitle("Sessions")
        self.resize(980, 480)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.setSortingEnabled(True)
        self.table.doubleClicked.connect(lambda _i: self.replay_selected())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #9A9A9A;")

        self.replay_button = QPushButton("&Replay")
        self.rename_button = QPushButton("Re&name…")
        self.delete_button = QPushButton("&Delete…")
        self.export_button = QPushButton("&Export…")
        self.import_button = QPushButton("&Import from DynamoDB…")
        self.video_button = QPushButton("Analyse a &video file…")
        self.refresh_button = QPushButton("Re&fresh")
        # Lambdas: ``clicked(bool checked)`` would otherwise arrive as the first optional
        # argument (rename_selected(False), export_selected(False), ...).
        self.replay_button.clicked.connect(lambda: self.replay_selected())
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.export_button.clicked.connect(lambda: self.export_selected())
        self.import_button.clicked.connect(lambda: self.import_dialog())
        self.video_button.clicked.connect(lambda: self.open_video_dialog())
        self.refresh_button.clicked.connect(lambda: self.refresh())
        buttons = QHBoxLayout()
        for b in (self.replay_button, self.rename_button, self.delete_button, self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.import_button, self.video_button, self.refresh_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self.last_message = ""
        self.last_export: dict[str, Path] | None = None
        self.replay_windows: list[QWidget] = []
        self._jobs = 0
        self._pending_select: str | None = None
        self.refresh()

    # --- background work -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A listing, delete, export or import is running in the background."""
        return self._jobs > 0

    def _run(self, what: str, fn: Callable[[], Any], on_done: Callable[[Any], None],
             error_title: str, *, refresh_after_error: bool = False) -> None:
        """Run ``fn`` off the GUI thread (disk walks, deletes, DynamoDB), then ``on_done``.

        Errors become a message box; ``task_finished(what)`` fires either way."""
        self._jobs += 1
        self._set_busy_ui()

        def done(result: Any) -> None:
            try:
                on_done(result)
            finally:
                self._job_over(what)

        def failed(exc: BaseException) -> None:
            try:
                self._error(error_title, exc)
                if refresh_after_error:
                    self.refresh()
            finally:
                self._job_over(what)

        run_in_background(fn, done, owner=self, on_error=failed, name=f"crowdmood-sessions-{what}")

    def _job_over(self, what: str) -> None:
        self._jobs = max(0, self._jobs - 1)
        self._set_busy_ui()
        self.task_finished.emit(what)

    def _set_busy_ui(self) -> None:
        busy = self.busy
        if busy:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()
        self._update_buttons()

    # --- listing --------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-list the sessions in the background (disk usage walks every folder)."""
        config = self.config
        if not self.infos:
            self.summary.setText("Reading the sessions…")

        def listing() -> tuple[list[SessionInfo], Path]:
            return list_sessions(config), sessions_root(config)

        self._run("refresh", listing, lambda result: self._populate(*result), "Cannot list the sessions")

    def _populate(self, infos: list[SessionInfo], root: Path) -> None:
        selected = self._pending_select or (self.selected().id if self.selected() is not None else None)
        self._pending_select = None
        self.infos = infos
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.infos))
        for row, info in enumerate(self.infos):
            started = info.started.astimezone().strftime("%Y-%m-%d %H:%M") if info.started else "—"
            video = "yes" if info.has_video else "no"
            if info.recording:
                video += " · recording"
            cells = [
                _Item(info.name, info.name.lower()),
                _Item(started, info.started.timestamp() if info.started else 0.0),
                _Item(fmt_clock(info.duration_s), info.duration_s),
                _Item("damaged" if info.damaged else str(info.records), info.records),
                _Item(human_bytes(info.disk_bytes), info.disk_bytes),
                _Item(video),
                _Item(info.source),
            ]
            cells[0].setData(Qt.ItemDataRole.UserRole, info.id)
            cells[0].setToolTip(f"{info.id}\n{info.path}")
            cells[6].setToolTip(info.source)
            if info.damaged:
                cells[3].setToolTip(f"session.db cannot be read: {info.damaged}")
            for col, cell in enumerate(cells):
                if col in (2, 3, 4):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, cell)
        self.table.setSortingEnabled(True)
        for col in (1, 2, 3, 4, 5):
            self.table.resizeColumnToContents(col)
        total = sum(i.disk_bytes for i in self.infos)
        count = len(self.infos)
        self.summary.setText(f"{count} session{'' if count == 1 else 's'}, {human_bytes(total)} in {root}")
        if selected is None or not self.select(selected):
            if self.table.rowCount():
                self.table.selectRow(0)
        self._update_buttons()

    def select(self, session_id: str) -> bool:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == session_id:
                self.table.selectRow(row)
                return True
        return False

    def selected(self) -> SessionInfo | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        session_id = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        return next((i for i in self.infos if i.id == session_id), None)

    def _update_buttons(self) -> None:
        info = self.selected()
        busy = self.busy
        self.replay_button.setEnabled(info is not None)
        for b in (self.rename_button, self.export_button):
            b.setEnabled(info is not None and not busy)
        self.delete_button.setEnabled(info is not None and not info.recording and not busy)
        self.import_button.setEnabled(not busy)
        self.refresh_button.setEnabled(not busy)

    def _error(self, title: str, exc: BaseException) -> None:
        self.last_message = str(exc)
        QMessageBox.warning(self, title, str(exc))

    # --- actions --------------------------------------------------------------------

    def replay_selected(self):
        from crowdmood_gui.ui.replay import open_replay

        info = self.selected()
        if info is None:
            return None
        try:
            window = open_replay(self.parentWidget(), self.config, info.path)
        except CrowdMoodError as exc:
            self._error("Cannot open the session", exc)
            return None
        if window is not None:
            # Replay windows delete themselves on close: keep only the live ones.
            self.replay_windows = [w for w in self.replay_windows if shiboken6.isValid(w)] + [window]
        return window

    def rename_selected(self, new_name: str | None = None) -> None:
        info = self.selected()
        if info is None:
            return
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename session", "Name:", text=info.name)
            if not ok:
                return
        try:
            rename_session(self.config, info.id, new_name)
        except CrowdMoodError as exc:
            self._error("Cannot rename the session", exc)
            return
        self.refresh()

    def delete_selected(self, *, confirm: bool = True) -> bool:
        """Ask, then delete in the background (hours of video are gigabytes to unlink).
        True when the deletion started; the outcome arrives with ``task_finished("delete")``."""
        info = self.selected()
        if info is None or self.busy:
            return False
        if confirm:
            answer = QMessageBox.question(
                self, "Delete session",
                f"Delete the session “{info.name}” ({fmt_clock(info.duration_s)}, {info.records} records, "
                f"{human_bytes(info.disk_bytes)})?\nThis cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        config, session_id, name = self.config, info.id, info.name

        def deleted(_result: Any) -> None:
            self.last_message = f"deleted {name}"
            self.refresh()

        self._run("delete", lambda: delete_session(config, session_id), deleted, "Cannot delete the session",
                  refresh_after_error=True)
        return True

    def export_selected(self, folder: Path | None = None) -> bool:
        """Export the selected session into ``folder`` (asked when None) in the background.
        True when the export started; ``last_export`` holds the written files afterwards."""
        from crowdmood_gui.core.export import export_session
        from crowdmood_gui.core.sessions import Session

        info = self.selected()
        if info is None or self.busy:
            return False
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, f"Export “{info.name}” into a folder")
            if not chosen:
                return False
            folder = Path(chosen)
        session = Session(info.id, info.path)
        self.last_export = None

        def exported(written: dict[str, Path]) -> None:
            self.last_export = written
            self.last_message = f"exported {', '.join(written)} to {folder}"
            self.summary.setText(self.last_message)

        self._run("export", lambda: export_session(session, folder), exported, "Export failed")
        return True

    def import_dialog(self, session_name: str | None = None) -> bool:
        """Import a session's records from DynamoDB (a network call: in the background).
        True when the import started."""
        if self.busy:
            return False
        if session_name is None:
            session_name, ok = QInputDialog.getText(
                self, "Import from DynamoDB",
                f"Session name the records were captured under (table {self.config.aws.table}):",
            )
            if not ok or not session_name.strip():
                return False
        config, factory, name = self.config, self.dynamodb_factory, session_name.strip()
        self.summary.setText(f"Importing “{name}” from DynamoDB table {config.aws.table}…")

        def work():
            # The client is built here too: a profile's credential lookup can touch the network.
            return import_from_dynamodb(config, name, dynamodb=factory(config))

        def imported(result) -> None:
            session, count = result
            self.last_message = f"imported {count} records into {session.id}"
            self._pending_select = session.id
            self.refresh()

        # CrowdMoodError and botocore's configuration problems alike become a message.
        self._run("import", work, imported, "Import failed", refresh_after_error=True)
        return True

    def open_video_dialog(self) -> None:
        from crowdmood_gui.ui.replay import analyse_and_replay

        path, _ = QFileDialog.getOpenFileName(self, "Analyse a video file", "", "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.mjpeg);;All files (*)")
        if path:
            analyse_and_replay(self.parentWidget(), self.config, Path(path))


def open_session_browser(parent: QWidget | None, config: AppConfig) -> SessionBrowser:
    """Show the (non-modal) session browser; returns it."""
    browser = SessionBrowser(config, parent)
    browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    browser.show()
    return browser
