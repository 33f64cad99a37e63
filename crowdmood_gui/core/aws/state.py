"""Which resources setup created, per deployment (region + bucket): ``aws-state.json``.

Teardown deletes only what setup made; a pre-existing resource that setup adopted is kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.config import default_config_path
from crowdmood_gui.core.errors import CrowdMoodError

STATE_FILE = "aws-state.json"


def default_state_path() -> Path:
    """``aws-state.json`` next to the config file (``$CROWDMOOD_HOME`` when set)."""
    return default_config_path().parent / STATE_FILE


class StateFile:
    """Which resources setup created, per deployment (region + bucket)."""

    def __init__(self, path: Path | None = None):
        self.path = path if path is not None else default_state_path()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "deployments": []}
        except (OSError, ValueError) as exc:
            raise CrowdMoodError(f"{self.path}: cannot read the AWS setup state ({exc})") from None
        data.setdefault("deployments", [])
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)

    def deployments(self) -> list[dict[str, Any]]:
        return self._read()["deployments"]

    def find(self, region: str, bucket: str | None = None) -> dict[str, Any] | None:
        matches = [d for d in self.deployments() if d.get("region") == region and (bucket is None or d["names"].get("bucket") == bucket)]
        return matches[0] if len(matches) == 1 or (matches and bucket) else None

    def _update(self, region: str, names: ResourceNames, change: Callable[[dict[str, Any]], None], account: str | None = None) -> None:
        data = self._read()
        deployments = data["deployments"]
        entry = next((d for d in deployments if d.get("region") == region and d["names"].get("bucket") == names.bucket), None)
        if entry is None:
            entry = {"region": region, "names": names.to_dict(), "created": []}
            deployments.append(entry)
        entry["names"] = names.to_dict()
        if account:
            entry["account"] = account
        change(entry)
        entry["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        if not entry["created"]:
            deployments.remove(entry)
        self._write(data)

    def add_created(self, region: str, names: ResourceNames, key: str, account: str | None = None) -> None:
        def change(entry):
            if key not in entry["created"]:
                entry["created"].append(key)

        self._update(region, names, change, account)

    def remove_created(self, region: str, names: ResourceNames, keys: list[str]) -> None:
        if not self.path.exists():
            return

        def change(entry):
            entry["created"] = [k for k in entry["created"] if k not in keys]

        self._update(region, names, change)

    def created(self, region: str, names: ResourceNames) -> set[str] | None:
        entry = self.find(region, names.bucket)
        return set(entry["created"]) if entry else None

