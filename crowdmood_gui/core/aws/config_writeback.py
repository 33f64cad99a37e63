"""Point the app's config at what setup made (and back to local after a teardown)."""

from __future__ import annotations

from pathlib import Path

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.config import AppConfig, load_config, save_config


def names_from_config(config: AppConfig) -> ResourceNames | None:
    return ResourceNames.from_config(config.aws)


def apply_to_config(config: AppConfig, names: ResourceNames, *, region: str, profile: str | None, use_aws_backend: bool) -> AppConfig:
    """A copy of ``config`` pointing at the provisioned resources."""
    data = config.model_dump()
    data["aws"].update(region=region, profile=profile or None, **names.config_settings())
    if use_aws_backend:
        data["backend"] = "aws"
    return AppConfig.model_validate(data)


def finish_setup(
    names: ResourceNames,
    *,
    region: str,
    profile: str | None,
    use_aws_backend: bool,
    config_path: Path | None = None,
) -> Path:
    """Write the AWS settings into the app's config file (re-read first: keep other edits)."""
    config = load_config(config_path)
    return save_config(apply_to_config(config, names, region=region, profile=profile, use_aws_backend=use_aws_backend), config_path)


def forget_setup(names: ResourceNames, *, config_path: Path | None = None) -> bool:
    """After a teardown: stop pointing the config at the deleted resources (back to local)."""
    config = load_config(config_path)
    if config.aws.bucket != names.bucket:
        return False
    data = config.model_dump()
    data["aws"].update(bucket=None, role=None)
    data["backend"] = "local"
    save_config(AppConfig.model_validate(data), config_path)
    return True
