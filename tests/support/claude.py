"""A visit on the real ClaudeLanguageModel and SDK, aimed at the fake Messages API server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.conversation import Conversation
from checkin.directory.service import Directory
from checkin.llm.breaker import CircuitBreaker
from checkin.llm.claude import ClaudeLanguageModel, ClaudeOptions, make_client
from checkin.llm.prompt import PromptConfig
from checkin.llm.rules import RulesLanguageModel
from checkin.llm.rules_first import RulesFirstLanguageModel
from checkin.llm.usage import Prices, VisitUsage
from checkin.providers import LanguageModel, Notifier
from checkin.states import Session
from checkin.tools.registry import ToolRegistry
from tests.fakeservers.fake_anthropic import FakeAnthropic
from tests.support.doubles import RecordingNotifier
from tests.support.factories import conversation, employees

# Short timeouts keep failure tests fast; the fake answers in milliseconds when it answers.
FAST = ClaudeOptions(model="claude-haiku-4-5", max_tokens=300, first_token_s=1.0, total_s=3.0,
                     stall_s=0.5, tool_rounds=6)
PRICES = Prices(input_per_mtok=1.0, output_per_mtok=5.0)


@dataclass
class ClaudeVisit:
    """A conversation whose model is Claude (or rules-first), with rules as the fallback."""

    conv: Conversation
    claude: ClaudeLanguageModel
    rules: RulesLanguageModel
    usage: VisitUsage
    breaker: CircuitBreaker
    notifier: RecordingNotifier
    said: list[str] = field(default_factory=list)

    async def say(self, utterance: str | None) -> str:
        reply = await self.conv.reply(utterance, silence_s=0.0 if utterance else 8.0)
        self.said.append(reply.text)
        return reply.text

    async def aclose(self) -> None:
        await self.claude._client.close()


async def claude_visit(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, fake: FakeAnthropic, *,
    breaker: CircuitBreaker | None = None, options: ClaudeOptions = FAST,
    rules_first: bool = False, session: Session | None = None, fallback: bool = True,
    notifier: Notifier | None = None, registry: ToolRegistry | None = None,
) -> ClaudeVisit:
    """A chat visit on the offline stack whose receptionist is Claude behind ``fake``."""
    breaker = breaker or CircuitBreaker(failure_threshold=3, cooldown_s=60)
    usage = VisitUsage(model=options.model, prices=PRICES)
    client = make_client(api_key="test-key", base_url=fake.url, max_retries=0, timeout_s=5,
                         connect_s=1)
    claude = ClaudeLanguageModel(
        client=client, options=options, breaker=breaker, usage=usage,
        prompt=PromptConfig(company="Example", languages=("en", "es")),
        greeting="Hi, welcome to Example. Who are you here to see?",
    )
    rules = RulesLanguageModel(company="Example", departments=Directory(employees()))
    model: LanguageModel = RulesFirstLanguageModel(rules=rules, model=claude) \
        if rules_first else claude
    recording = notifier if isinstance(notifier, RecordingNotifier) else RecordingNotifier()
    conv = await conversation(sessions, tmp_path, notifier or recording, model=model,
                              fallback=rules if fallback else None, usage=usage,
                              session=session, registry=registry)
    return ClaudeVisit(conv, claude, rules, usage, breaker, recording)
