"""File ▸ Settings: the pipeline knobs, validated by the pydantic config and saved with it.

The spin boxes take their limits from the config models' own constraints, and the final
word is ``AppConfig.model_validate``: the dialog never accepts what the config would
refuse at the next start. Sampling and detection settings apply at the next start;
privacy settings apply at once (blur via ``Pipeline.set_privacy``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from crowdmood_gui.core.config import AppConfig, DetectionConfig, SamplingConfig


def field_limits(model: type[BaseModel], name: str, default: tuple[float, float]) -> tuple[float, float]:
    """(min, max) from a pydantic field's ge/gt/le/lt constraints, else ``default``."""
    low, high = default
    for meta in model.model_fields[name].metadata:
        for attr in ("ge", "gt"):
            value = getattr(meta, attr, None)
            if value is not None:
                low = float(value)
        for attr in ("le", "lt"):
            value = getattr(meta, attr, None)
            if value is not None:
                high = float(value)
    return low, high


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def validate_changes(config: AppConfig, changes: dict[str, Any]) -> str | None:
    """None if ``config`` with ``changes`` is valid, else a one-line message naming the field."""
    try:
        AppConfig.model_validate(merge(config.model_dump(), changes))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"
    return None


class SettingsDialog(QDialog):
    """``changes()`` after ``exec()``: a nested dict of the sections that changed."""

    def __init__(self, config: AppConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._config = config

        self.interval = QDoubleSpinBox()
        low, high = field_limits(SamplingConfig, "interval_s", (0.1, 600))
        self.interval.setRange(low, high)
        self.interval.setDecimals(1)
        self.interval.setSingleStep(0.5)
        self.interval.setSuffix(" s")
        self.interval.setValue(config.sampling.interval_s)
        self.interval.setToolTip("At most one analysed crop per face every interval (bounds the AWS bill)")

        self.min_face = QSpinBox()
        low, high = field_limits(SamplingConfig, "min_face_px", (8, 4096))
        self.min_face.setRange(int(low), int(min(high, 4096)))
        self.min_face.setSuffix(" px")
        self.min_face.setValue(config.sampling.min_face_px)
        self.min_face.setToolTip("Smaller faces are tracked but not analysed")

        self.max_side = QSpinBox()
        low, high = field_limits(DetectionConfig, "max_side", (160, 1920))
        self.max_side.setRange(int(low), int(high))
        self.max_side.setSingleStep(80)
        self.max_side.setSuffix(" px")
        self.max_side.setValue(config.detection.max_side)
        self.max_side.setToolTip("Frames are resized so their longer side is at most this before detection")

        self.tiling = QCheckBox("Find small faces (tiles)")
        self.tiling.setChecked(config.detection.tiling)
        self.tiling.setToolTip("Sweep the frame at full resolution in tiles to find faces the "
                               "low-resolution pass misses (more CPU); off: one pass per frame")
        self.smallest_face = QSpinBox()
        low, high = field_limits(DetectionConfig, "smallest_face_px", (12, 400))
        self.smallest_face.setRange(int(low), int(high))
        self.smallest_face.setSuffix(" px")
        self.smallest_face.setValue(config.detection.smallest_face_px)
        self.smallest_face.setToolTip("The smallest face (short side, source pixels) the tiles must find: "
                                      "larger is cheaper; no tiles at all where the low-resolution pass sees it")
        self.smallest_face.setEnabled(self.tiling.isChecked())
        self.tiling.toggled.connect(self.smallest_face.setEnabled)

        self.blur = QCheckBox("Blur every face: on screen, recent faces, recorded video, kept crops")
        self.blur.setChecked(config.privacy.blur_faces)
        self.blur.setToolTip("The analysis still sees the face; only what is shown or written is blurred")
        self.keep_crops = QCheckBox("Keep analysed face crops on disk")
        self.keep_crops.setChecked(config.privacy.keep_crops)
        self.show_faces = QCheckBox("Show the recent faces strip")
        self.show_faces.setChecked(config.privacy.show_recent_faces)
        self.record_video = QCheckBox("Record the displayed video with the session (for replay)")
        self.record_video.setChecked(config.recording.record_video)
        self.record_video.setToolTip("Blurred too when faces are blurred")

        pipeline_box = QGroupBox("Analysis (applies at the next start)")
        form = QFormLayout(pipeline_box)
        form.addRow("Sampling interval", self.interval)
        form.addRow("Minimum face size", self.min_face)
        form.addRow("Detection resolution", self.max_side)
        form.addRow("", self.tiling)
        form.addRow("Smallest face to find", self.smallest_face)
        form.addRow("", self.record_video)
        privacy_box = QGroupBox("Privacy (applies now)")
        privacy = QVBoxLayout(privacy_box)
        privacy.addWidget(self.blur)
        privacy.addWidget(self.show_faces)
        privacy.addWidget(self.keep_crops)

        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #E57373;")
        self.error_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(pipeline_box)
        layout.addWidget(privacy_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def values(self) -> dict[str, Any]:
        return {
            "sampling": {"interval_s": round(self.interval.value(), 3), "min_face_px": self.min_face.value()},
            "detection": {"max_side": self.max_side.value(), "tiling": self.tiling.isChecked(),
                          "smallest_face_px": self.smallest_face.value()},
            "recording": {"record_video": self.record_video.isChecked()},
            "privacy": {
                "blur_faces": self.blur.isChecked(),
                "keep_crops": self.keep_crops.isChecked(),
                "show_recent_faces": self.show_faces.isChecked(),
            },
        }

    def changes(self) -> dict[str, Any]:
        """Only the settings that differ from the config the dialog was opened with."""
        current = self._config.model_dump()
        out: dict[str, Any] = {}
        for section, fields in self.values().items():
            diff = {k: v for k, v in fields.items() if current[section].get(k) != v}
            if diff:
                out[section] = diff
        return out

    def _accept_if_valid(self) -> None:
        problem = validate_changes(self._config, self.changes())
        if problem:
            self.error_label.setText(f"Not saved: {problem}")
            return
        self.accept()
