"""The window's one way to ask first (``ui/prompts.ask``) and its one non-modal message box
(``ui/prompts.Notice``): the clicked button's action runs once, a box closed without a
choice runs ``otherwise``, a newer notice replaces the one on screen."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from crowdmood_gui.ui.prompts import Notice, ask

Role = QMessageBox.ButtonRole


def _button(box: QMessageBox, text: str):
    return next(b for b in box.buttons() if b.text() == text)


def _parent(qtbot) -> QWidget:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    return parent


def test_the_clicked_choice_runs_and_nothing_else(qtbot):
    done: list[str] = []
    parent = _parent(qtbot)  # held: the box dies with its parent
    box = ask(parent, QMessageBox.Icon.Question, "Quit", "Quitting stops it.",
              [("Quit", Role.AcceptRole, lambda: done.append("quit")),
               ("Keep", Role.RejectRole, lambda: done.append("keep"))],
              otherwise=lambda: done.append("otherwise"))
    assert box.isVisible() and box.defaultButton() is _button(box, "Quit")
    assert box.text() == "Quitting stops it." and box.windowTitle() == "Quit"
    _button(box, "Keep").click()
    qtbot.waitUntil(lambda: not box.isVisible())
    assert done == ["keep"]


def test_a_standard_button_without_an_action_does_nothing(qtbot):
    done: list[str] = []
    parent = _parent(qtbot)  # held: the box dies with its parent
    box = ask(parent, QMessageBox.Icon.Question, "Stop", "Stop it?",
              [("Stop", Role.AcceptRole, lambda: done.append("stop")),
               (QMessageBox.StandardButton.Cancel, Role.RejectRole, None)],
              otherwise=lambda: done.append("otherwise"))
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: not box.isVisible())
    assert done == []


def test_a_box_closed_without_a_choice_runs_otherwise(qtbot):
    done: list[str] = []
    parent = _parent(qtbot)  # held: the box dies with its parent
    box = ask(parent, QMessageBox.Icon.Question, "Set up AWS", "Set it up?",
              [("Set up", Role.AcceptRole, lambda: done.append("setup"))],
              otherwise=lambda: done.append("otherwise"))
    box.reject()
    assert done == ["otherwise"]


def test_modal_or_not(qtbot):
    parent = _parent(qtbot)
    modal = ask(parent, QMessageBox.Icon.Question, "A", "a?", [("Yes", Role.AcceptRole, None)])
    free = ask(parent, QMessageBox.Icon.Information, "B", "b?", [("Yes", Role.AcceptRole, None)], modal=False)
    assert modal.isVisible() and modal.windowModality() != free.windowModality()
    assert free.isVisible()
    modal.close()
    free.close()


def test_a_newer_notice_replaces_the_one_on_screen(qtbot):
    parent = _parent(qtbot)
    notice = Notice(parent)
    first = notice.show("Cannot open the source", "nope.mp4 not found")
    second = notice.show("Could not start the session", "the model cannot load", QMessageBox.Icon.Critical)
    assert first is second is notice.box
    assert second.text() == "the model cannot load" and second.icon() == QMessageBox.Icon.Critical
    second.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: notice.box is None)
    third = notice.show("Again", "a new box after the last one closed")
    assert third is notice.box and third.text() == "a new box after the last one closed"
    third.close()
