"""ClaudeStack: the process-wide pieces of the Claude receptionist, and a model per visit.

The composition root builds one stack per process (one SDK client and its connection pool, one
circuit breaker shared by every visit, shown on ``/health``) and asks it for each visit's
model. Imported lazily by the runtime, so a rules-only process never loads the anthropic SDK.
Imports: config, llm.*; never tools/, conversation or a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic

from checkin.config import Settings
from checkin.errors import ConfigError
from checkin.llm.breaker import CircuitBreaker
from checkin.llm.claude import ClaudeLanguageModel, ClaudeOptions, make_client
from checkin.llm.prompt import PromptConfig
from checkin.llm.rules_first import RulesFirstLanguageModel
from checkin.llm.usage import Prices, VisitUsage
from checkin.providers import LanguageModel


@dataclass
class ClaudeStack:
    """The client, the breaker and the per-visit model factory."""

    settings: Settings
    client: anthropic.AsyncAnthropic
    breaker: CircuitBreaker

    def new_usage(self) -> VisitUsage:
        """An empty usage record for a new visit, priced from config."""
        c = self.settings.claude
        return VisitUsage(model=c.model, prices=Prices(
            input_per_mtok=c.price_input_per_mtok, output_per_mtok=c.price_output_per_mtok,
            cache_write_per_mtok=c.price_cache_write_per_mtok,
            cache_read_per_mtok=c.price_cache_read_per_mtok))

    def receptionist(self, *, rules: LanguageModel, usage: VisitUsage) -> LanguageModel:
        """The visit's model: Claude, or rules-then-Claude when ``claude.rules_first``."""
        s = self.settings
        c, t = s.claude, s.timeouts
        claude = ClaudeLanguageModel(
            client=self.client, breaker=self.breaker, usage=usage,
            options=ClaudeOptions(model=c.model, max_tokens=c.max_tokens,
                                  first_token_s=t.llm_first_token_s, total_s=t.llm_total_s,
                                  stall_s=c.stall_s, tool_rounds=c.tool_rounds),
            prompt=PromptConfig(company=s.site.company, tone=c.tone,
                                languages=s.site.languages, instructions=c.instructions),
            greeting=s.site.greeting.format(company=s.site.company),
        )
        if c.rules_first:
            return RulesFirstLanguageModel(rules=rules, model=claude)
        return claude

    def health(self) -> dict[str, Any]:
        """Model and breaker state for ``/health`` (no secrets)."""
        c = self.settings.claude
        return {"model": c.model, "rules_first": c.rules_first, "max_retries": c.max_retries,
                "breaker": self.breaker.snapshot()}

    async def aclose(self) -> None:
        """Close the SDK's connection pool."""
        await self.client.close()


def build_claude(settings: Settings) -> ClaudeStack:
    """The stack for ``providers.llm: claude``; the key was checked by ``load_settings``."""
    key = settings.credentials.anthropic_api_key
    if key is None:
        raise ConfigError("providers.llm is claude: set ANTHROPIC_API_KEY in the environment")
    c, t = settings.claude, settings.timeouts
    client = make_client(api_key=key.get_secret_value(), base_url=c.base_url or None,
                         max_retries=c.max_retries, timeout_s=t.llm_total_s,
                         connect_s=min(t.llm_first_token_s, 3.0))
    return ClaudeStack(settings=settings, client=client,
                       breaker=CircuitBreaker(failure_threshold=c.breaker_failures,
                                              cooldown_s=c.breaker_cooldown_s))
