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
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

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


class Printer(_Section):
    """The lobby's badge printer (``providers.printer``); unused keys are ignored per kind.

    zpl: ``host``/``port`` of a Zebra on raw TCP (9100), ``dpi`` 203 or 300, 4 x 3 in labels.
    brother: ``host``/``port`` or ``device`` (``/dev/usb/lp0``), ``model`` and ``label`` ("62").
    cups: ``queue`` and ``lp_options`` (``media=Custom.4x3in``, ``fit-to-page``).
    ``timeout_s`` bounds one attempt; a failed print is retried once after ``retry_delay_s``,
    so keep ``2 * timeout_s + retry_delay_s`` below ``timeouts.tool_s``.
    """

    host: str = ""
    port: int = Field(9100, ge=1, le=65535)
    device: str = ""
    queue: str = ""
    lp_options: tuple[str, ...] = ()
    model: str = "QL-820NWB"
    label: str = "62"
    dpi: Literal[203, 300] = 203
    timeout_s: float = Field(2.0, gt=0)
    retry_delay_s: float = Field(0.5, ge=0)


class CalDav(_Section):
    """The site's CalDAV calendar (``providers.calendar: caldav``).

    ``url`` is the server, or the calendar collection itself when ``calendar`` is empty;
    ``calendar`` is a display name ("Visitors"), an id ("visitors") or a path ("/lobby/visitors/").
    The password comes from ``CHECKIN_CALDAV_PASSWORD``.
    """

    url: str = ""
    calendar: str = ""
    username: str = ""


class Claude(_Section):
    """Claude as the receptionist (``providers.llm: claude``); the key comes from the environment.

    ``rules_first``: the rules engine answers every turn it understands and Claude only the
    turns it does not. Prices are USD per million tokens, for the cost stored on each visit.
    """

    model: str = "claude-haiku-4-5"
    base_url: str = ""  # empty: Anthropic's own API; ANTHROPIC_BASE_URL overrides
    max_tokens: int = Field(300, ge=16, le=4096)
    # 0 on purpose: the SDK's retry waits 0.5-8 s (and honours retry-after with no cap); a
    # visitor standing at the desk is better served at once by the rules engine.
    max_retries: int = Field(0, ge=0, le=3)
    stall_s: float = Field(4.0, gt=0)  # longest gap between two stream events once it started
    tool_rounds: int = Field(5, ge=1, le=10)  # model calls per visitor turn
    rules_first: bool = False
    tone: str = "warm, brief and professional"
    instructions: str = ""  # extra site rules appended to the system prompt
    breaker_failures: int = Field(3, ge=1)  # consecutive failures that open the breaker
    breaker_cooldown_s: float = Field(60.0, gt=0)  # how long Claude is then skipped
    price_input_per_mtok: float = Field(1.0, ge=0)
    price_output_per_mtok: float = Field(5.0, ge=0)
    price_cache_write_per_mtok: float = Field(1.25, ge=0)
    price_cache_read_per_mtok: float = Field(0.10, ge=0)


class Contact(_Section):
    """Someone outside the directory who can be told about a visitor: a team channel, reception."""

    name: str = ""
    slack_channel: str = ""  # a Slack channel id (C...) or user id (U...)
    phone: str = ""  # E.164, for SMS


class Notify(_Section):
    """How host notifications are retried and escalated (secrets come from the environment).

    ``escalate_after_min`` without an answer from the host, ``alternate`` (the host's
    assistant or team channel from the directory, else this site-wide contact) is told; the
    same time later, ``reception``. ``fallback``: try the other channel (SMS after Slack, Slack
    after SMS) when its credentials are set. ``visitor_wait_s``: after check-in the kiosk
    screen, the phone call and ``checkin chat`` stay this long for the host's answer (0: not
    at all; the offline notifier never waits, since nobody can answer a console line).
    """

    escalate_after_min: float = Field(2.0, gt=0)
    visitor_wait_s: float = Field(45.0, ge=0, le=600)
    alternate: Contact = Contact()
    reception: Contact = Contact(name="Reception")
    fallback: bool = True
    max_attempts: int = Field(6, ge=1, le=50)
    retry_initial_s: float = Field(5.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)
    claim_s: float = Field(60.0, ge=1)  # a crashed worker's row is taken over after this
    poll_s: float = Field(1.0, gt=0)
    slack_api_url: str = "https://slack.com/api/"
    twilio_api_base_url: str = ""  # empty: Twilio's own host


class Speech(_Section):
    """Cloud speech engines for phone calls (``providers.stt: deepgram``, ``providers.tts:
    elevenlabs``); keys come from ``DEEPGRAM_API_KEY`` / ``ELEVENLABS_API_KEY``.

    Empty base URLs mean the vendors' own; tests and the benchmark point them at local fakes.
    ``offline_tts`` is the offline voice (and the cloud voice's fallback): ``flite`` (BSD-style,
    Debian) or ``piper`` (GPL-3.0, the separately installed ``checkin[piper]`` extra).
    """

    deepgram_base_url: str = ""
    deepgram_model: str = "nova-3"
    deepgram_endpointing_ms: int = Field(300, ge=10, le=5000)
    deepgram_utterance_end_ms: int = Field(1000, ge=1000, le=5000)
    elevenlabs_base_url: str = ""
    elevenlabs_voice_id: str = ""
    elevenlabs_model: str = "eleven_flash_v2_5"
    elevenlabs_read_s: float = Field(2.0, gt=0)  # first byte, and any gap between chunks
    offline_tts: Literal["flite", "piper"] = "flite"


class Credentials(_Section):
    """Secrets, read from environment variables only; config.yaml may not set them."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str = ""
    anthropic_api_key: SecretStr | None = None
    caldav_password: SecretStr | None = None
    deepgram_api_key: SecretStr | None = None
    elevenlabs_api_key: SecretStr | None = None

    def has_slack(self) -> bool:
        """True when Slack can be used (bot token and signing secret set)."""
        return bool(self.slack_bot_token and self.slack_signing_secret)

    def has_twilio(self) -> bool:
        """True when Twilio SMS can be used (account, token and sender set)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and self.twilio_from_number)


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
    notify: Notify = Notify()
    credentials: Credentials = Credentials()
    claude: Claude = Claude()
    public_url: str = ""  # how Twilio and Slack reach us (webhook signatures are over this URL)
    printer: Printer = Printer()
    caldav: CalDav = CalDav()
    speech: Speech = Speech()

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
    "CHECKIN_PUBLIC_URL": "public_url",
    "SLACK_API_URL": "notify.slack_api_url",
    "TWILIO_API_BASE_URL": "notify.twilio_api_base_url",
    "ANTHROPIC_BASE_URL": "claude.base_url",
    "CHECKIN_CLAUDE_MODEL": "claude.model",
    "DEEPGRAM_BASE_URL": "speech.deepgram_base_url",
    "ELEVENLABS_BASE_URL": "speech.elevenlabs_base_url",
    "ELEVENLABS_VOICE_ID": "speech.elevenlabs_voice_id",
    "CHECKIN_OFFLINE_TTS": "speech.offline_tts",
}

# Secrets: environment only, never config.yaml (see _check_credentials).
SECRET_ENV: Mapping[str, str] = {
    "SLACK_BOT_TOKEN": "credentials.slack_bot_token",
    "SLACK_SIGNING_SECRET": "credentials.slack_signing_secret",
    "TWILIO_ACCOUNT_SID": "credentials.twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "credentials.twilio_auth_token",
    "TWILIO_FROM_NUMBER": "credentials.twilio_from_number",
    "ANTHROPIC_API_KEY": "credentials.anthropic_api_key",
    "CHECKIN_CALDAV_PASSWORD": "credentials.caldav_password",
    "DEEPGRAM_API_KEY": "credentials.deepgram_api_key",
    "ELEVENLABS_API_KEY": "credentials.elevenlabs_api_key",
}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read ``config.yaml`` (or ``$CHECKIN_CONFIG``), apply environment overrides, validate."""
    env = os.environ if environ is None else environ
    chosen = path or env.get("CHECKIN_CONFIG")
    config_path = Path(chosen) if chosen else Path(DEFAULT_CONFIG)
    raw = _read_yaml(config_path, required=chosen is not None)
    if "credentials" in raw:
        raise ConfigError(f"{config_path}: credentials: secrets come from environment variables "
                          f"({', '.join(SECRET_ENV)}), not from the config file")
    applied: dict[str, str] = {}
    for var, key in {**ENV_OVERRIDES, **SECRET_ENV}.items():
        if env.get(var):
            _set_dotted(raw, key, env[var], source=var)
            applied[key] = var
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, config_path, applied)) from None
    _check_credentials(settings)
    return _resolve_paths(settings, config_path if config_path.exists() else None)


def _check_credentials(settings: Settings) -> None:
    """Fail at start-up, not at the first visitor, when a chosen notifier has no credentials."""
    chosen, creds = settings.providers.notifier, settings.credentials
    if chosen == "slack" and not creds.has_slack():
        raise ConfigError("providers.notifier is slack: set SLACK_BOT_TOKEN and "
                          "SLACK_SIGNING_SECRET in the environment")
    if chosen == "sms" and not creds.has_twilio():
        raise ConfigError("providers.notifier is sms: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN "
                          "and TWILIO_FROM_NUMBER in the environment")
    if settings.providers.llm == "claude" and not creds.anthropic_api_key:
        raise ConfigError("providers.llm is claude: set ANTHROPIC_API_KEY in the environment")
    if settings.providers.stt == "deepgram" and not creds.deepgram_api_key:
        raise ConfigError("providers.stt is deepgram: set DEEPGRAM_API_KEY in the environment")
    if settings.providers.tts == "elevenlabs" and not creds.elevenlabs_api_key:
        raise ConfigError("providers.tts is elevenlabs: set ELEVENLABS_API_KEY in the "
                          "environment")
    if settings.providers.tts == "elevenlabs" and not settings.speech.elevenlabs_voice_id:
        raise ConfigError("providers.tts is elevenlabs: set ELEVENLABS_VOICE_ID (or "
                          "speech.elevenlabs_voice_id)")


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


def _describe(err: ValidationError, path: Path, applied: Mapping[str, str]) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        origin = f" (set by ${applied[key]})" if key in applied else ""
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            lines.append(f"{key}: {problem['msg']}{origin}")
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
