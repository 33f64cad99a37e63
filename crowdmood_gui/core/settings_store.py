"""The console's settings while it runs: the live config and the file it was read from.

The live config carries the command line's overrides (``--backend``, ``--session``, …) and
the file must never get them, so each change is applied twice: to the live config, and to
the file's own config, re-read just before and written back with
:func:`~crowdmood_gui.core.config.save_config` (TOML, owner-only, camera passwords to the OS
keychain). A refused value or a failed write is a one-line :class:`CrowdMoodError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from crowdmood_gui.core.config import AppConfig, describe_validation_error, load_config, save_config
from crowdmood_gui.core.errors import ConfigError, CrowdMoodError, StorageError

MAX_LAST_SOURCES = 8

ConfigChange = Callable[[AppConfig], None]


class SettingsStore:
    """``config`` is the live config: the window reads it, and replaces it with a copy when
    a session starts (the running session keeps the object it started with). ``path`` is
    the settings file (None: the user's default); ``persist=False`` changes the live config
    only."""

    def __init__(self, config: AppConfig, path: Path | None = None, *, persist: bool = True) -> None:
        self.config = config
        self.path = path
        self.persist = persist

    def change(self, mutate: ConfigChange) -> None:
        """Apply ``mutate`` to the live config and to the file. Raises ConfigError when the
        value is refused (the live config keeps the old one, the file is not touched),
        StorageError when the file could not be written (the live config has the new one)."""
        try:
            mutate(self.config.model_copy(deep=True))  # tried on a copy: refused means nothing changed
        except ValidationError as exc:  # the model refuses the value: say which field, on one line
            raise ConfigError(describe_validation_error(exc, "Setting not applied")) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(f"Setting not applied: {exc}") from None
        mutate(self.config)  # in place: whoever holds the live config sees the change
        if not self.persist:
            return
        try:
            on_disk = load_config(self.path)
            mutate(on_disk)
            save_config(on_disk, self.path)
        except (CrowdMoodError, OSError, ValueError) as exc:
            raise StorageError(f"Settings not saved: {exc}") from None

    def apply(self, changes: dict[str, dict[str, Any]]) -> None:
        """The settings dialog's changes (section -> field -> value), live and in the file."""

        def mutate(config: AppConfig) -> None:
            for section, fields in changes.items():
                for key, value in fields.items():
                    setattr(getattr(config, section), key, value)

        self.change(mutate)

    def remember_source(self, spec: str, loop: bool) -> str:
        """Make ``spec`` the source to open next time, first among the recent ones. It is kept
        masked, even in the live config: its password goes to the keychain. Returns the
        masked form."""
        from crowdmood_gui.core.secrets import remember_url

        spec = remember_url(spec)

        def mutate(config: AppConfig) -> None:
            sources = [spec] + [s for s in config.ui.last_sources if s != spec]
            config.ui.last_sources = sources[:MAX_LAST_SOURCES]
            config.source.spec = spec
            config.source.loop = loop

        self.change(mutate)
        return spec

    def start_config(self, spec: str, loop: bool | None = None, *, session: str | None = None,
                     record_video: bool | None = None) -> AppConfig:
        """The config a new session on ``spec`` starts with, made the live config: a copy (the
        running session keeps the object it started with) with the source, its looping, the
        session's name and whether to record the video (``None``: as the live config says)."""
        config = self.config.model_copy(deep=True)
        config.source.spec = spec
        if loop is not None:
            config.source.loop = loop
        if session:
            config.session = session
        if record_video is not None:
            config.recording.record_video = bool(record_video)
        self.config = config
        return config

    def recent_sources(self) -> list[str]:
        """The sources opened lately, newest first, masked (what the recent menu lists)."""
        return list(self.config.ui.last_sources)

    def reload_aws(self) -> None:
        """Take the AWS section and the backend from the file (the setup wizard and teardown
        write them there) into a new live config; the running session keeps its own.
        Raises ConfigError when the file cannot be read."""
        try:
            on_disk = load_config(self.path)
        except CrowdMoodError as exc:
            raise ConfigError(f"Settings not reloaded: {exc}") from None
        config = self.config.model_copy(deep=True)
        config.aws = on_disk.aws
        config.backend = on_disk.backend
        self.config = config
