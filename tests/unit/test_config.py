"""Settings: unknown keys and bad values are named, the environment wins, paths are anchored."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkin.config import load_settings
from checkin.errors import ConfigError

pytestmark = pytest.mark.unit


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.providers.llm == "rules"
    assert settings.retention.days == 30
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'checkin.db'}"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, "retention:\n  dayz: 10\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "retention.dayz: unknown key" in str(caught.value)
    assert str(path) in str(caught.value)


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, "databse_url: sqlite:///x.db\n")
    with pytest.raises(ConfigError, match="databse_url: unknown key"):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("retention:\n  days: 0\n", "retention.days"),
        ("retention:\n  run_daily_at: '25:00'\n", "retention.run_daily_at"),
        ("site:\n  timezone: Mars/Olympus\n", "site.timezone"),
        ("providers:\n  llm: gpt\n", "providers.llm"),
        ("timeouts:\n  silence_s: -1\n", "timeouts.silence_s"),
    ],
)
def test_bad_value_is_named(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = write_config(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert f"{key}: " in str(caught.value)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "database_url: sqlite:///file.db\nproviders:\n  llm: rules\n")
    settings = load_settings(path, environ={
        "CHECKIN_DATABASE_URL": "postgresql://db.internal/checkin",
        "CHECKIN_LLM": "claude",
        "ANTHROPIC_API_KEY": "test-key-not-real",
        "CHECKIN_LOG_FORMAT": "json",
    })
    assert settings.database_url == "postgresql://db.internal/checkin"
    assert settings.providers.llm == "claude"
    assert settings.logging.format == "json"
    assert "test-key-not-real" not in repr(settings)  # secrets stay SecretStr


def test_a_real_provider_without_its_key_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        load_settings(write_config(tmp_path, ""), environ={"CHECKIN_LLM": "claude"})


def test_bad_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="providers.llm: "):
        load_settings(write_config(tmp_path, ""), environ={"CHECKIN_LLM": "gpt"})


def test_checkin_config_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "site:\n  company: Northwind Labs\n")
    assert load_settings(environ={"CHECKIN_CONFIG": str(path)}).site.company == "Northwind Labs"


def test_missing_checkin_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_settings(environ={"CHECKIN_CONFIG": str(missing)})


def test_relative_sqlite_path_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    path = write_config(tmp_path, "database_url: sqlite:///data/checkin.db\n")
    settings = load_settings(path, environ={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'checkin.db'}"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "site:\n  company: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path, environ={})
