"""Exporting the last session from the console: Session ▸ Stop offers it, File ▸ Export and
the toolbar's Export ask for a folder. The files are written by
:func:`crowdmood_gui.core.export.export_session`, in the background; this module only asks
and shows (the status bar says what was written, the banner why not).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from crowdmood_gui.ui.prompts import ask
from crowdmood_gui.ui.session_state import IDLE
from crowdmood_gui.ui.status_bar import clock_text
from crowdmood_gui.ui.tasks import run_in_background

if TYPE_CHECKING:
    from crowdmood_gui.ui.main_window import MainWindow


class ExportFlow:
    """The window's export: ``offer_box`` is the "stopped: export it?" question on screen,
    ``last_export`` what the last export wrote (name -> file)."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        self.offer_box: QMessageBox | None = None
        self.last_export: dict[str, Path] | None = None

    def offer(self, records_seen: int) -> QMessageBox | None:
        """A non-modal "stopped: export it?" with the session's name and length."""
        w = self._window
        if w.last_session is None or w.closing:
            return None
        name = w.session_name or w.last_session.id
        self.offer_box = ask(
            w, QMessageBox.Icon.Information, "Session stopped",
            f"The session “{name}” stopped after {clock_text(w.session_elapsed_s())} "
            f"({records_seen} faces analysed). Everything is kept under File ▸ Sessions.\n\n"
            "Export it now (timeline and faces CSV, chart, summary page)?",
            [("Export…", QMessageBox.ButtonRole.AcceptRole, self.ask_and_export),
             ("Not now", QMessageBox.ButtonRole.RejectRole, None)],
            modal=False)
        return self.offer_box

    def ask_folder(self) -> Path | None:
        """Where to export (a folder chooser)."""
        chosen = QFileDialog.getExistingDirectory(self._window, "Export the session into a folder")
        return Path(chosen) if chosen else None

    def ask_and_export(self) -> None:
        w = self._window
        # The window's ask_export_folder: the one tests replace.
        folder = w.ask_export_folder() if w.last_session is not None and not w.session_active else None
        if folder is not None:
            self.export(folder)

    def export(self, folder: Path) -> bool:
        """Export the last session into ``folder`` in the background; the status bar says
        what was written (``last_export``) or the banner why not."""
        from crowdmood_gui.core.export import export_session

        w = self._window
        session = w.last_session
        if session is None or w.session_active:
            return False
        self.last_export = None
        w.act_export.setEnabled(False)

        def done(written: dict[str, Path]) -> None:
            self.last_export = written
            w.act_export.setEnabled(w.state == IDLE)
            w.statusBar().showMessage(f"Exported {', '.join(written)} to {folder}", 15000)

        def failed(exc: BaseException) -> None:
            w.act_export.setEnabled(w.state == IDLE)
            w.report_error(f"Export failed: {exc}")

        run_in_background(lambda: export_session(session, folder), done, owner=w, on_error=failed,
                          name="crowdmood-export")
        return True
