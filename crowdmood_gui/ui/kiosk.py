"""A big chart alone, for a second screen facing the crowd (View ▸ Kiosk chart window).

It observes the main window's :class:`TimelineStore`, so it shows the same data and
switching its period does not touch the operator's chart. Esc closes it, F11 toggles
full screen. With a second screen it opens there, full screen.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QVBoxLayout, QWidget

from crowdmood_gui.ui.chart import EmotionChart, TimelineStore


class KioskChartWindow(QWidget):
    def __init__(self, store: TimelineStore, parent: QWidget | None = None, *, period_s: int = 10, window_s: int = 300) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("crowdmood — expressions")
        self.chart = EmotionChart(store, self, period_s=period_s, window_s=window_s, large=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.chart)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)
        QShortcut(QKeySequence(Qt.Key.Key_F11), self, activated=self.toggle_full_screen)
        self.resize(1280, 720)

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def show_on_best_screen(self) -> None:
        """Full screen on a second screen if there is one, else a normal window."""
        screens = QGuiApplication.screens()
        main_screen = self.parentWidget().screen() if self.parentWidget() is not None else QGuiApplication.primaryScreen()
        others = [s for s in screens if s is not main_screen]
        if others:
            target = others[0]
            self.setGeometry(target.availableGeometry())
            self.showFullScreen()
        else:
            self.show()
        self.raise_()
        self.activateWindow()
        self.chart.redraw()
