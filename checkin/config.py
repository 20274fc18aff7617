"""Settings: ``config.yaml`` for the site, environment variables for operations and secrets.

``load_settings()`` runs once, in the composition root; everything else receives ``Settings``
(or the part it needs) as an argument. An unknown key or a bad value stops start-up with a
message that names the key. Imports nothing from checkin but ``errors``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from checkin.errors import ConfigError

DEFAULT_CONFIG = "config.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Section):
    """Who we are and how we greet."""

    company: str = "Example Corp"
    timezone: str = "UTC"
    greeting: str = "Hi, welcome to {company}. Who are you here to see?"
    languages: tuple[str, ...] = ("en", "es")
    reception_phone: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("languages")
    @classmethod
    def _supported(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - {"en", "es"})
        if unknown or "en" not in value:
            raise ValueError("languages must include 'en' and may add 'es'")
        return value


class Timeouts(_Section):
    """Seconds to wait for people and providers."""

    silence_s: float = Field(8.0, gt=0)
    silence_reprompts: int = Field(2, ge=0, le=5)
    tool_s: float = Field(5.0, gt=0)
    filler_after_s: float = Field(0.3, ge=0)
    llm_first_token_s: float = Field(3.0, gt=0)
    llm_total_s: float = Field(15.0, gt=0)
    notify_s: float = Field(10.0, gt=0)


class Providers(_Section):
    """Which implementation serves each role; the offline one is the default for every role."""

    stt: Literal["offline", "deepgram"] = "offline"
    tts: Literal["offline", "elevenlabs"] = "offline"
    llm: Literal["rules", "claude"] = "rules"
    notifier: Literal["offline", "slack", "sms"] = "offline"
    printer: Literal["pdf", "zpl", "brother", "cups"] = "pdf"
    calendar: Literal["ics", "caldav", "none"] = "ics"


class Retention(_Section):
    """How long visit records live and how the purge runs."""

    days: int = Field(30, ge=1)
    batch_size: int = Field(500, ge=1, le=100_000)
    run_daily_at: str = Field("03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Paths(_Section):
    """Files and folders; relative paths are taken from the config file's folder."""

    badges: Path = Path("var/badges")
    calendar: str = ""
    demo_directory: Path | None = None


class Logging(_Section):
    """``console`` for people, ``json`` for production log shippers."""

    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(_Section):
    """Everything checkin is configured with."""

    site: Site = Site()
    timeouts: Timeouts = Timeouts()
    providers: Providers = Providers()
    retention: Retention = Retention()
    paths: Paths = Paths()
    logging: Logging = Logging()
    database_url: str = "sqlite:///var/checkin.db"
    silence_action: Literal["end", "transfer"] = "end"
    record_audio: bool = False
    config_path: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone, which decides what "today" means."""
        return ZoneInfo(self.site.timezone)


# Environment variable -> dotted settings key. Environment beats the file.
ENV_OVERRIDES: Mapping[str, str] = {
    "CHECKIN_DATABASE_URL": "database_url",
    "CHECKIN_STT": "providers.stt",
    "CHECKIN_TTS": "providers.tts",
    "CHECKIN_LLM": "providers.llm",
    "CHECKIN_NOTIFIER": "providers.notifier",
    "CHECKIN_PRINTER": "providers.printer",
    "CHECKIN_CALENDAR": "providers.calendar",
    "CHECKIN_CALENDAR_SOURCE": "paths.calendar",
    "CHECKIN_BADGE_DIR": "paths.badges",
    "CHECKIN_LOG_FORMAT": "logging.format",
    "CHECKIN_LOG_LEVEL": "logging.level",
}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read ``config.yaml`` (or ``$CHECKIN_CONFIG``), apply environment overrides, validate."""
    env = os.environ if environ is None else environ
    chosen = path or env.get("CHECKIN_CONFIG")
    config_path = Path(chosen) if chosen else Path(DEFAULT_CONFIG)
    raw = _read_yaml(config_path, required=chosen is not None)
    for var, key in ENV_OVERRIDES.items():
        if env.get(var):
            _set_dotted(raw, key, env[var], source=var)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, config_path)) from None
    return _resolve_paths(settings, config_path if config_path.exists() else None)


def _read_yaml(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"config file not found: {path}")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data


def _set_dotted(raw: dict[str, Any], key: str, value: str, *, source: str) -> None:
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{part}: must be a mapping (while applying {source})")
        node = child
    node[leaf] = value


def _describe(err: ValidationError, path: Path) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            lines.append(f"{key}: {problem['msg']}")
    return f"{path}: invalid configuration\n  " + "\n  ".join(lines)


def _resolve_paths(settings: Settings, config_path: Path | None) -> Settings:
    base = config_path.parent if config_path else Path.cwd()

    def anchored(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    calendar = settings.paths.calendar
    if calendar and "://" not in calendar:
        calendar = str(anchored(Path(calendar)))
    paths = settings.paths.model_copy(update={
        "badges": anchored(settings.paths.badges),
        "calendar": calendar,
        "demo_directory": anchored(settings.paths.demo_directory)
        if settings.paths.demo_directory else None,
    })
    url = settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            url = f"sqlite:///{anchored(Path(rel))}"
    return settings.model_copy(update={"paths": paths, "database_url": url,
                                       "config_path": config_path})
