"""Camera credentials: never on disk, never on screen, never in a log.

One rule for every place a source URL is stored or shown (config.toml, session.db, the
sessions list and window, summary.html, log lines, CLI output): :func:`redact_url`. It masks
the password of ``user:password@host`` and the value of secret-looking query parameters
(``?pwd=``, ``?password=``, ``?token=``, ...) with ``***``; everything else stays as typed.

The masked form doubles as the key under which the real URL is kept in the operating
system's keychain (the ``keyring`` library): :func:`remember_url` stores it and returns the
masked form to write to disk; :func:`reveal_url` gives the real URL back when the source is
opened. Without a usable keychain (a headless Linux box with no Secret Service) the masked
form is still what is written; opening it later says the password is needed again.

Also here: private files and folders (0700 / 0600) for the data and config on multi-user
machines.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

from crowdmood_gui.core.errors import InputError

log = logging.getLogger(__name__)

MASK = "***"
KEYRING_SERVICE = "crowdmood-camera"
# Query parameters whose value is a credential (compared case-insensitively).
SECRET_QUERY_KEYS = frozenset({
    "password", "passwd", "pass", "pwd", "pw", "secret", "token", "access_token", "auth", "key",
    "apikey", "api_key", "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
})
# Fallback when the text does not even parse as a URL ("http://u:p@[::1"): mask userinfo.
_USERINFO = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@:?#]*)):(?P<pw>[^/@?#]*)@")


def _mask_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if eq and value and unquote(name).lower() in SECRET_QUERY_KEYS:
            part = f"{name}={MASK}"
        parts.append(part)
    return "&".join(parts)


def redact_url(text: str) -> str:
    """``rtsp://user:secret@host/x?pwd=1`` -> ``rtsp://user:***@host/x?pwd=***``.

    Text that is not a URL with a scheme (a file path, a camera index) is returned as is."""
    text = str(text)
    if "://" not in text:
        return text
    scheme, sep, rest = text.partition("://")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port / IPv6 literal
    except ValueError:
        return _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    netloc_end = len(parts.netloc)
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            user, _, password = userinfo.partition(":")
            if password:
                netloc = f"{user}:{MASK}@{host}"
    if parts.query:
        # Rebuild only the query, so the rest of the URL stays byte for byte as typed.
        head, q, after = tail.partition("?")
        query, hash_, fragment = after.partition("#")
        tail = head + q + _mask_query(query) + hash_ + fragment
    return f"{scheme}{sep}{netloc}{tail}"


def is_masked(text: str) -> bool:
    """True for a stored URL whose credential was replaced by ``***`` (needs the keychain)."""
    if MASK not in str(text) or "://" not in str(text):
        return False
    try:
        parts = urlsplit(str(text))
    except ValueError:
        return False
    if parts.password == MASK:
        return True
    return any(
        value == MASK and unquote(name).lower() in SECRET_QUERY_KEYS
        for name, _, value in (p.partition("=") for p in parts.query.split("&"))
    )


# The real URLs given during this run, by masked form: a source typed once keeps working
# until the app quits even when there is no keychain to remember it in.
_this_run: dict[str, str] = {}


def _keyring():
    import keyring

    return keyring


def remember_url(url: str) -> str:
    """The form of ``url`` to write to disk: masked, with the real URL put in the keychain
    (keyed by that masked form). A URL without credentials is returned unchanged."""
    masked = redact_url(url)
    if masked == url or is_masked(url):
        return masked
    _this_run[masked] = url
    try:
        _keyring().set_password(KEYRING_SERVICE, masked, url)
    except Exception as exc:  # no keychain (headless Linux), locked, denied: never write the secret
        log.warning("the password of %s could not be kept in the OS keychain (%s): it will be asked again",
                    masked, exc)
    return masked


def reveal_url(text: str) -> str:
    """The URL to connect with: a masked one gets its credentials back from the keychain."""
    if not is_masked(text):
        return text
    if text in _this_run:
        return _this_run[text]
    try:
        url = _keyring().get_password(KEYRING_SERVICE, text)
    except Exception as exc:
        log.warning("the OS keychain could not be read (%s)", exc)
        url = None
    if not url:
        raise InputError(f"the password of {text} is not in this computer's keychain: "
                         "open the URL again with its password (File ▸ Open URL or --source)")
    return url


# --- private files --------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: sessions hold faces and camera names."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o700)
        except OSError as exc:  # someone else's folder (home = a shared path): say so, go on
            log.warning("cannot make %s private: %s", path, exc.strerror)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Write a new file readable by its owner only (0600), whatever the umask."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if fd >= 0:
            os.close(fd)
