"""Setting AWS up (or tearing it down) from the console: Setup ▸ AWS setup wizard and
Tear down AWS, and the offer made when the AWS backend is chosen but nothing is set up
(:meth:`AppConfig.needs_aws_setup <crowdmood_gui.core.config.AppConfig.needs_aws_setup>`).
The wizard and the teardown dialog write the settings file; the window then takes the AWS
section from it (``SettingsStore.reload_aws``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from crowdmood_gui.ui.prompts import ask

if TYPE_CHECKING:
    from crowdmood_gui.ui.main_window import MainWindow


def _aws_module(name: str) -> ModuleType:
    # Imported on first use (boto3 and the provisioning code: not needed to start the console).
    return importlib.import_module(f"crowdmood_gui.ui.{name}")


class AwsFlow:
    """The window's AWS set-up; ``offer_box`` is the "set up AWS?" question, once asked."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        self.offer_box: QMessageBox | None = None

    def offer_setup(self) -> QMessageBox:
        """The AWS backend is chosen but nothing is provisioned: offer the wizard, or the
        local model, instead of failing to start."""
        w = self._window
        w.video.clear("The AWS backend is not set up yet.")
        w.source_label.setText("Not started")

        def start_if_ready() -> None:
            if not w.config.needs_aws_setup():
                w.open_source(w.config.source.spec, w.config.source.loop)

        def use_wizard() -> None:
            self.open_setup()
            start_if_ready()

        def use_local() -> None:
            w.persist(lambda c: setattr(c, "backend", "local"))
            start_if_ready()

        def no_choice() -> None:
            # Closed or Escape: a choice nobody made is not written to the settings.
            w.video.clear("Not started: the AWS backend is not set up yet (Setup ▸ AWS setup wizard, "
                          "or Settings for the local model).")

        self.offer_box = ask(
            w, QMessageBox.Icon.Question, "Set up AWS",
            "The AWS backend is chosen, but no AWS resources are set up yet.\n\n"
            "The setup wizard creates them in a few minutes (and can remove them again). "
            "Or keep going with the on-device model: nothing leaves this computer.",
            [("Open the setup wizard…", QMessageBox.ButtonRole.AcceptRole, use_wizard),
             ("Use the local model", QMessageBox.ButtonRole.RejectRole, use_local)],
            otherwise=no_choice)
        return self.offer_box

    def open_setup(self) -> None:
        """Setup ▸ AWS setup wizard (modal); a finished set-up is taken into the settings."""
        w = self._window
        if _aws_module("wizard").open_setup_wizard(w, w.config, w.config_path):
            was = w.config.backend
            self._reload_settings()
            if w.config.backend == "aws" and was != "aws" and w.session_active:
                # The running session keeps its backend; the next one uses AWS.
                w.banner.show_message("AWS is set up: the next session uses it (Session ▸ Stop, then Start).")

    def open_teardown(self) -> None:
        """Setup ▸ Tear down AWS (modal); then the settings say what is left."""
        w = self._window
        _aws_module("teardown_dialog").open_teardown_dialog(w, w.config, w.config_path)
        self._reload_settings()

    def _reload_settings(self) -> None:
        """Setup and teardown write the AWS section (and maybe the backend) to the file."""
        w = self._window
        if not w.settings_do(w.settings.reload_aws):
            return
        w.chart.set_local_backend(w.config.backend == "local")
        w.live.refresh_status()
