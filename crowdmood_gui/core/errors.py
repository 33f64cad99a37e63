"""Failures a user can act on: each carries a one-line message, never a traceback."""

from __future__ import annotations


class CrowdMoodError(Exception):
    """Base class: ``str(err)`` is a complete sentence for the user."""


class InputError(CrowdMoodError):
    """Bad input: a missing, corrupt or unreadable file, an unreachable stream, a bad option."""


class ConfigError(CrowdMoodError):
    """An invalid configuration file or flag; the message names the field and the file."""


class ModelError(CrowdMoodError):
    """A bundled model is missing or cannot be loaded."""


class StorageError(CrowdMoodError):
    """The store or the disk failed (full disk, read-only directory, locked database)."""


class AwsError(CrowdMoodError):
    """An AWS call failed in a way the user must act on (credentials, permissions, region)."""
