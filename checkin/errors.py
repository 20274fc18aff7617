"""The error tree of checkin; standard library only.

    CheckinError
    ├── ConfigError              a bad or unknown setting; the message names the key
    ├── ToolError                a tool could not run; the message is safe to show the model
    ├── DirectoryImportError     a directory file was rejected; carries per-line problems
    └── ProviderError(code, retryable)
        ├── ProviderTimeout
        ├── ProviderUnavailable
        │   └── ProviderRateLimited  (retry_after_s: when the provider said to come back)
        └── ProviderRejected

``TransitionNotAllowed`` lives in ``checkin.states``, which must import nothing from checkin.

Codes are stable kebab-case strings (``host-not-found``, ``tts-timeout``) used in logs, visit
events and the dashboard.
"""

from __future__ import annotations


class CheckinError(Exception):
    """Base of every error checkin raises on purpose."""


class ConfigError(CheckinError):
    """A configuration value is missing, unknown or invalid."""


class ToolError(CheckinError):
    """A tool failed or was refused; ``str(err)`` is safe to show the language model."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class DirectoryImportError(CheckinError):
    """A directory file was rejected as a whole; ``problems`` lists (line, message)."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ProviderError(CheckinError):
    """An external provider (speech, model, notifier, printer, calendar) failed."""

    def __init__(self, provider: str, *, code: str, retryable: bool = False) -> None:
        super().__init__(f"{provider}: {code}")
        self.provider = provider
        self.code = code
        self.retryable = retryable


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""

    def __init__(self, provider: str, *, code: str) -> None:
        super().__init__(provider, code=code, retryable=True)


class ProviderUnavailable(ProviderError):
    """The provider is down or unreachable."""

    def __init__(self, provider: str, *, code: str) -> None:
        super().__init__(provider, code=code, retryable=True)


class ProviderRateLimited(ProviderUnavailable):
    """The provider said "too many requests" (HTTP 429) and when to try again."""

    def __init__(self, provider: str, *, code: str, retry_after_s: float) -> None:
        super().__init__(provider, code=code)
        self.retry_after_s = retry_after_s


class ProviderRejected(ProviderError):
    """The provider refused the request (bad credentials, bad input); retrying will not help."""

    def __init__(self, provider: str, *, code: str) -> None:
        super().__init__(provider, code=code, retryable=False)
