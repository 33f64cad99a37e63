"""File ▸ Open…: pick a camera, a video file or a stream URL.

Nothing here blocks the window: the camera list is probed and a URL is tested in
background threads (``VideoCapture.open`` on a dead RTSP host can take tens of seconds,
field notes §5). The dialog only returns a choice; the main window opens it (and remembers
it in ``config.ui.last_sources``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from crowdmood_gui.ui.tasks import run_in_background

if TYPE_CHECKING:
    from crowdmood_gui.core.cameras import CameraInfo

VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.m4v *.webm *.mjpg *.mjpeg);;All files (*)"
TAB_CAMERA, TAB_FILE, TAB_URL = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SourceChoice:
    spec: str  # "0", a path, or a URL: what SourceSpec.parse understands
    loop: bool = True


def probe_cameras() -> list[CameraInfo]:
    """The cameras core/cameras.py finds, named where the OS tells their names."""
    from crowdmood_gui.core.cameras import list_cameras  # OpenCV: imported when first needed

    return list_cameras()


def check_stream_url(url: str, timeout_s: float = 8.0) -> str:
    """Open ``url``, read one frame, close. Returns a one-line description; raises on failure.

    Runs in a background thread (it can block up to ``timeout_s``)."""
    from crowdmood_gui.core.capture import open_source

    source = open_source(url, open_timeout_s=timeout_s)
    try:
        return f"OK: received {source.width}×{source.height} frames"
    finally:
        source.close()


def classify(spec: str) -> int:
    """Which tab a remembered source belongs to."""
    text = spec.strip()
    if text.isdigit():
        return TAB_CAMERA
    lowered = text.lower()
    if lowered.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return TAB_URL
    return TAB_FILE


class SourceDialog(QDialog):
    """Camera / File / URL tabs. ``choice()`` after ``exec()`` returns what to open."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        last_sources: list[str] | None = None,
        initial_tab: int | None = None,
        loop: bool = True,
        probe=probe_cameras,
        tester=check_stream_url,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a video source")
        self.setMinimumWidth(520)
        self._probe = probe
        self._tester = tester
        self._test_serial = 0
        last_sources = list(last_sources or [])

        self.tabs = QTabWidget()

        # Camera.
        camera_tab = QWidget()
        self.camera_box = QComboBox()
        self.camera_box.setEditable(True)  # a camera the probe missed can still be typed
        self.camera_status = QLabel("Looking for cameras…")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_cameras)
        row = QHBoxLayout()
        row.addWidget(self.camera_box, 1)
        row.addWidget(self.refresh_button)
        form = QFormLayout(camera_tab)
        form.addRow("Camera index", row)
        form.addRow("", self.camera_status)
        self.tabs.addTab(camera_tab, "Camera")

        # File.
        file_tab = QWidget()
        self.file_edit = QComboBox()
        self.file_edit.setEditable(True)
        self.file_edit.lineEdit().setPlaceholderText("/path/to/video.mp4")
        for spec in last_sources:
            if classify(spec) == TAB_FILE:
                self.file_edit.addItem(spec)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.loop_check = QCheckBox("Loop the video")
        self.loop_check.setChecked(loop)
        row = QHBoxLayout()
        row.addWidget(self.file_edit, 1)
        row.addWidget(browse)
        form = QFormLayout(file_tab)
        form.addRow("Video file", row)
        form.addRow("", self.loop_check)
        self.tabs.addTab(file_tab, "Video file")

        # URL.
        url_tab = QWidget()
        self.url_edit = QComboBox()
        self.url_edit.setEditable(True)
        self.url_edit.lineEdit().setPlaceholderText("rtsp://camera.local/stream  or  http://host:8080/video.mjpg")
        for spec in last_sources:
            if classify(spec) == TAB_URL:
                self.url_edit.addItem(spec)
        self.test_button = QPushButton("Test")
        self.test_button.clicked.connect(self.test_current_url)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.url_edit, 1)
        row.addWidget(self.test_button)
        form = QFormLayout(url_tab)
        form.addRow("Stream URL", row)
        form.addRow("", QLabel("RTSP (rtsp://) or HTTP MJPEG (http://…)"))
        form.addRow("", self.test_result)
        self.tabs.addTab(url_tab, "Stream URL")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #E57373;")

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        # Preselect the last source.
        if last_sources:
            last = last_sources[0]
            tab = classify(last)
            if tab == TAB_CAMERA:
                self.camera_box.setEditText(last)
            elif tab == TAB_FILE:
                self.file_edit.setCurrentText(last)
            else:
                self.url_edit.setCurrentText(last)
            self.tabs.setCurrentIndex(tab if initial_tab is None else initial_tab)
        elif initial_tab is not None:
            self.tabs.setCurrentIndex(initial_tab)
        self.refresh_cameras()

    # --- cameras ---------------------------------------------------------------------

    def refresh_cameras(self) -> None:
        self.refresh_button.setEnabled(False)
        self.camera_status.setText("Looking for cameras…")
        run_in_background(self._probe, self._show_cameras, owner=self, on_error=self._probe_failed, name="crowdmood-probe")

    def _show_cameras(self, cameras: list[CameraInfo | int]) -> None:
        from crowdmood_gui.core.cameras import CameraInfo

        cameras = [CameraInfo(c) if isinstance(c, int) else c for c in cameras]
        current = self.camera_box.currentText().strip()
        self.camera_box.clear()
        for camera in cameras:
            self.camera_box.addItem(camera.label, camera.index)
        remembered = self.camera_box.findData(int(current)) if current.isdigit() else -1
        if remembered >= 0:
            self.camera_box.setCurrentIndex(remembered)  # "0" remembered: show it with its name
        elif current:
            self.camera_box.setEditText(current)
        self.camera_status.setText(
            f"Cameras found: {', '.join(c.label for c in cameras)}" if cameras else "No camera found (you can still type an index)."
        )
        self.refresh_button.setEnabled(True)

    def _probe_failed(self, exc: BaseException) -> None:
        self.camera_status.setText(f"Could not list cameras: {exc}")
        self.refresh_button.setEnabled(True)

    # --- file ------------------------------------------------------------------------

    def _browse(self) -> None:
        start = self.file_edit.currentText().strip()
        directory = str(Path(start).expanduser().parent) if start else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", directory, VIDEO_FILTER)
        if path:
            self.file_edit.setCurrentText(path)

    # --- URL -------------------------------------------------------------------------

    def test_current_url(self) -> None:
        url = self.url_edit.currentText().strip()
        if not url:
            self.test_result.setText("Type a URL first.")
            return
        self._test_serial += 1
        serial = self._test_serial
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText("Testing… (the window stays usable)")
        run_in_background(
            lambda: self._tester(url),
            lambda message: self._test_done(serial, True, message),
            owner=self,
            on_error=lambda exc: self._test_done(serial, False, str(exc)),
            name="crowdmood-url-test",
        )

    def _test_done(self, serial: int, ok: bool, message: str) -> None:
        if serial != self._test_serial:
            return  # an older test finishing late
        self.test_button.setEnabled(True)
        self.test_result.setStyleSheet("color: #81C784;" if ok else "color: #E57373;")
        self.test_result.setText(message if ok else f"Failed: {message}")

    # --- result ----------------------------------------------------------------------

    def choice(self) -> SourceChoice | None:
        tab = self.tabs.currentIndex()
        if tab == TAB_CAMERA:
            text = self.camera_box.currentText().strip()
            listed = self.camera_box.findText(text)
            if listed >= 0 and self.camera_box.itemData(listed) is not None:
                text = str(self.camera_box.itemData(listed))  # "1: Logitech C920" opens index 1
            return SourceChoice(text, loop=False) if text else None
        if tab == TAB_FILE:
            text = self.file_edit.currentText().strip()
            return SourceChoice(text, loop=self.loop_check.isChecked()) if text else None
        text = self.url_edit.currentText().strip()
        return SourceChoice(text, loop=False) if text else None

    def _accept_if_valid(self) -> None:
        choice = self.choice()
        if choice is None:
            self.error_label.setText("Choose a source first.")
            return
        if self.tabs.currentIndex() == TAB_CAMERA and not choice.spec.isdigit():
            self.error_label.setText("A camera index is a number (0, 1, …).")
            return
        if self.tabs.currentIndex() == TAB_URL and classify(choice.spec) != TAB_URL:
            self.error_label.setText("A stream URL starts with rtsp://, rtsps://, http:// or https://.")
            return
        self.accept()
