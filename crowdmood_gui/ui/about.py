"""Help ▸ About: version, the models and their licences, the expression disclaimer."""

from __future__ import annotations

import html
import re
from pathlib import Path

from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from crowdmood_gui import __version__
from crowdmood_gui.core.config import MODELS_DIR, ExpressionConfig
from crowdmood_gui.core.emotions import EXPRESSION_DISCLAIMER
from crowdmood_gui.core.expression import MODEL_CHOICES, MODEL_LIMITS, MODEL_TITLES


def model_licences(models_dir: Path = MODELS_DIR) -> list[tuple[str, str]]:
    """(title, text) for crowdmood_gui/resources/models/README.md and every LICENSE-*.txt found."""
    found: list[tuple[str, str]] = []
    if not models_dir.is_dir():
        return found
    readme = models_dir / "README.md"
    candidates = ([readme] if readme.is_file() else []) + sorted(models_dir.glob("LICENSE-*.txt"))
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        title = "Models" if path.name == "README.md" else path.stem.removeprefix("LICENSE-").replace("_", " ")
        found.append((title, text.strip()))
    return found


def markdown_body(text: str) -> str:
    """Markdown as the HTML of a body (Qt's own renderer: tables, code, links), so it can
    sit inside the About page instead of showing as raw ``| pipes |`` and ``# hashes``."""
    doc = QTextDocument()
    doc.setMarkdown(text)
    full = doc.toHtml()
    match = re.search(r"<body[^>]*>(.*)</body>", full, re.S)
    if not match:
        return f"<pre style='white-space: pre-wrap'>{html.escape(text)}</pre>"
    # Its headings sit under "Models and licences": no bigger than that one.
    body = re.sub(r"font-size:[^;\"]*;?", "", match.group(1))  # Qt writes heading sizes inline
    return re.sub(r"<(/?)h[1-3]\b", r"<\1h4", body)


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
    parts = [
        f"<h2>crowdmood {html.escape(__version__)}</h2>",
        "<p>A live console for how a crowd's faces react at an event booth: local models or "
        "AWS Rekognition.</p>",
        f"<p><b>{html.escape(EXPRESSION_DISCLAIMER)}</b></p>",
        limits_html(),
        "<h3>Models and licences</h3>",
    ]
    licences = model_licences(models_dir)
    if not licences:
        parts.append(f"<p>No model licence files found in {html.escape(str(models_dir))}.</p>")
    for title, text in licences:
        if title == "Models":  # crowdmood_gui/resources/models/README.md: Markdown (a table), not plain text
            parts.append(markdown_body(text))
        else:
            parts.append(f"<h4>{html.escape(title)}</h4><pre style='white-space: pre-wrap'>{html.escape(text)}</pre>")
    parts.append("<p>Built with Qt for Python (PySide6, LGPL), pyqtgraph (MIT), OpenCV (Apache 2.0), "
                 "ONNX Runtime (MIT), NumPy (BSD).</p>")
    return "\n".join(parts)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, models_dir: Path = MODELS_DIR) -> None:
        super().__init__(parent)
        self.setWindowTitle("About crowdmood")
        self.resize(900, 640)  # the models table has six columns
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(about_html(models_dir))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
