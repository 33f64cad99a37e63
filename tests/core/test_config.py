import pytest

from crowdmood_gui.core.config import AppConfig, load_config, save_config
from crowdmood_gui.core.errors import ConfigError


def test_defaults_without_a_file(tmp_path):
    config = load_config(tmp_path / "missing.toml")
    assert config.backend == "local"
    assert config.sampling.interval_s == 2.0
    assert config.aws.namespace == "CrowdMood" and config.aws.table == "rekognize-faces"


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('camera = "door"\n[sampling]\ninterval_s = 5\n')
    config = load_config(path, {"sampling": {"min_face_px": 60}, "backend": "aws"})
    assert (config.camera, config.sampling.interval_s, config.sampling.min_face_px, config.backend) == (
        "door", 5.0, 60, "aws")


def test_unknown_field_names_field_and_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[sampling]\ninterval = 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "sampling.interval" in str(err.value)


def test_out_of_range_value_and_bad_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[sampling]\ninterval_s = -1\n")
    with pytest.raises(ConfigError, match="sampling.interval_s"):
        load_config(path)
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="command line"):
        load_config(tmp_path / "none.toml", {"backend": "gcp"})


def test_save_and_reload(tmp_path):
    config = AppConfig()
    config.aws.bucket = "crowdmood-faces-abc"
    config.ui.last_sources = ["/tmp/a.mp4"]
    path = save_config(config, tmp_path / "cfg" / "config.toml")
    again = load_config(path)
    assert again.aws.bucket == "crowdmood-faces-abc" and again.ui.last_sources == ["/tmp/a.mp4"]
    assert again.aws.prefix == "faces/"


def test_saved_file_holds_only_what_differs_from_the_defaults(tmp_path):
    """A value never changed follows the release's default: the full dump pinned every
    default of the version that first saved (min_face_px stayed 40 after it became 28)."""
    import tomllib

    path = tmp_path / "config.toml"
    config = AppConfig()
    config.sampling.interval_s = 3.0
    config.camera = "booth-7"
    save_config(config, path)
    assert tomllib.loads(path.read_text()) == {"camera": "booth-7", "sampling": {"interval_s": 3.0}}
    assert load_config(path) == config


def test_data_home_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CROWDMOOD_HOME", str(tmp_path / "h"))
    assert AppConfig().data_home() == tmp_path / "h"
    assert AppConfig(home=tmp_path / "x").data_home() == tmp_path / "x"
