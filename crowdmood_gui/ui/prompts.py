"""The window's questions and notices: message boxes that never block the event loop
(frames keep painting behind them), as qutebrowser keeps its prompts and messages apart
from its window.

:func:`ask` is the one way the console asks first (end the running session? export it?
set up AWS?): the caller says which buttons do what; :class:`Notice` is the one non-modal
message box (a newer message replaces the text of the one showing). What to ask, and
whether to ask at all, stays the caller's.
"""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

Choice = tuple[str | QMessageBox.StandardButton, QMessageBox.ButtonRole, Callable[[], object] | None]
"""A button of :func:`ask`: its text (or a standard button), its role, what it does (None: nothing)."""


def ask(parent: QWidget, icon: QMessageBox.Icon, title: str, text: str, choices: Sequence[Choice], *,
        modal: bool = True, otherwise: Callable[[], object] | None = None) -> QMessageBox:
    """Show a question: window-modal (``modal``) or not, never blocking. The first choice
    is the default button. The clicked button's action runs when the box closes;
    ``otherwise`` runs when it closes without a choice (Escape, the close button)."""
    box = QMessageBox(icon, title, text, parent=parent)
    actions = []
    for label, role, action in choices:
        if isinstance(label, QMessageBox.StandardButton):
            button = box.addButton(label)
        else:
            button = box.addButton(label, role)
        actions.append((button, action))
    box.setDefaultButton(actions[0][0])

    def chosen(_result: int) -> None:
        clicked = box.clickedButton()
        for button, action in actions:
            if clicked is button:
                if action is not None:
                    action()
                return
        if otherwise is not None:
            otherwise()

    box.finished.connect(chosen)
    if modal:
        box.open()
    else:
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
    return box


class Notice:
    """A non-modal message box, one at a time: a newer message replaces the text."""

    def __init__(self, parent: QWidget) -> None:
        self._parent = parent
        self.box: QMessageBox | None = None

    def show(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> QMessageBox:
        box = self.box
        if box is None:
            box = QMessageBox(self._parent)
            box.setWindowModality(Qt.WindowModality.NonModal)
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
            box.finished.connect(self._closed)
            self.box = box
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        box.show()
        return box

    def _closed(self, _result: int) -> None:
        box, self.box = self.box, None
        if box is not None:
            box.deleteLater()
