"""The console session's states, in one place: the window's lifecycle sets them, the
status bar and the REC badge show them, ``MainWindow.session_state_changed`` emits them."""

from __future__ import annotations

IDLE, STARTING, RUNNING, PAUSED, STOPPING = "idle", "starting", "running", "paused", "stopping"
