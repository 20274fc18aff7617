"""RulesFirstLanguageModel: the rules engine answers first, a cloud model only what it can't.

``claude.rules_first: true`` in config. Each turn goes to the rules engine with its
"misunderstood" report held back; when the rules engine understood, its reply is spoken and
the cloud model is not called (no cost, no latency). When it did not, its words are dropped and
the cloud model answers the same utterance from the same state. A cloud failure propagates, so
the conversation's fallback (the same rules engine) answers as it would have.
Imports: providers, states; never a vendor SDK (the model is injected).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from checkin.providers import LanguageModel, ModelTurn
from checkin.states import Event, Session


class RulesFirstLanguageModel:
    """Rules for what they understand; ``model`` for the rest."""

    def __init__(self, *, rules: LanguageModel, model: LanguageModel) -> None:
        self._rules = rules
        self._model = model
        self.model_turns = 0

    def greeting(self, session: Session) -> str:
        """The rules engine's greeting (it also primes what the rules engine last asked)."""
        return self._rules.greeting(session)

    async def respond(self, turn: ModelTurn) -> AsyncIterator[str]:
        """The rules engine's reply, or the model's when the rules engine did not understand."""
        if turn.utterance is None:  # silence needs no understanding
            async for chunk in self._rules.respond(turn):
                yield chunk
            return
        puzzled = False

        def report(event: Event, **facts: Any) -> None:
            nonlocal puzzled
            if event is Event.MISUNDERSTOOD:
                puzzled = True  # held back: the model may understand what the rules did not
                return
            turn.report(event, **facts)

        held = [chunk async for chunk in self._rules.respond(replace(turn, report=report))]
        if not puzzled:
            for chunk in held:
                yield chunk
            return
        self.model_turns += 1
        async for chunk in self._model.respond(turn):
            yield chunk
