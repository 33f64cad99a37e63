"""Session ▸ Start (and opening a source): name the session, say whether the video is
recorded, and, when a session is running, say that it will be stopped first."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


class SessionStartDialog(QDialog):
    """``name()``, ``record_video()`` once accepted. ``running``: the name of the session
    that starting this one will stop (the operator is told before anything stops)."""

    def __init__(self, parent: QWidget | None, *, source: str, default_name: str, record_video: bool,
                 running: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("session_start")
        self.setWindowTitle("Start a session")
        self.name_edit = QLineEdit(default_name)
        self.name_edit.setObjectName("session_name")
        self.name_edit.selectAll()
        self.video_box = QCheckBox("Record the video with the session (for replay)")
        self.video_box.setObjectName("record_video")
        self.video_box.setChecked(record_video)
        form = QFormLayout()
        form.addRow("Session name:", self.name_edit)
        form.addRow("Source:", QLabel(source))
        form.addRow("", self.video_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.warning = QLabel("")
        self.warning.setObjectName("running_warning")
        self.warning.setWordWrap(True)
        if running:
            self.warning.setText(f"The session “{running}” is running: it will be stopped first "
                                 "(everything it recorded is kept).")
            self.warning.setStyleSheet("color: #E0A030;")
        layout.addWidget(self.warning)
        self.warning.setVisible(bool(running))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Stop it and start" if running else "Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._check)
        self._default = default_name

    def _check(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.name_edit.text().strip()))

    def name(self) -> str:
        return self.name_edit.text().strip() or self._default

    def record_video(self) -> bool:
        return self.video_box.isChecked()
