"""Twilio Voice: the incoming-call webhook (TwiML) and the Media Streams WebSocket.

``POST /voice/incoming`` answers ``<Connect><Stream>`` (built with the twilio library) with the
per-call data as ``<Parameter>``s, because a query string on the stream URL breaks Twilio's
handshake. Every webhook and the WebSocket handshake carry ``X-Twilio-Signature``, checked with
twilio's ``RequestValidator`` against the public URL Twilio sees (``CHECKIN_PUBLIC_URL``); a bad
or missing signature gets 403 and nothing else happens. ``/voice/stream`` hands the socket
straight to ``checkin.voice.call.PhoneCall`` with the visit's ``Conversation`` behind the
``Dialogue`` adapter below. This is the layer that may know both sides.

Speech engines (``providers.stt`` / ``providers.tts``): the offline ones (Whisper + Silero,
flite or Piper) always exist; ``deepgram`` / ``elevenlabs`` put the cloud engine in front of
them in a per-call fallback wrapper, so a cloud failure mid-call hands that call to the
offline engine and the next call tries the cloud again. ``health()`` feeds ``/health``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Request, Response, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from checkin.config import Settings
from checkin.conversation import Conversation
from checkin.errors import ConfigError
from checkin.providers import SpeechToText, TextToSpeech
from checkin.runtime import Runtime
from checkin.states import CheckInState
from checkin.voice.call import CallControl, CallSettings, PhoneCall
from checkin.voice.control import TwilioCallControl
from checkin.voice.fallback import FallbackSpeechToText, FallbackTextToSpeech, ProviderHealth
from checkin.voice.offline import FliteTextToSpeech, WhisperEngine, WhisperSpeechToText
from checkin.voice.phrases import CachedPhrases
from checkin.voice.twilio_stream import Start

if TYPE_CHECKING:  # vendor SDKs are imported only when their engine is chosen
    from checkin.voice.deepgram import DeepgramSpeechToText
    from checkin.voice.elevenlabs import ElevenLabsTextToSpeech

log = structlog.get_logger(__name__)

FILLER = "One moment, please."
HOTWORD_LIMIT = 60  # Whisper's prompt holds about 220 tokens; the rest of a big directory waits
KEYTERM_LIMIT = 100  # Deepgram's keyterms: about 500 tokens in all


@dataclass(frozen=True)
class PhoneConfig:
    """What the phone channel needs beyond ``Settings``: the public URL and Twilio secrets."""

    public_url: str = ""
    signatures: bool = True
    account_sid: str = ""
    auth_token: str = ""
    api_base_url: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PhoneConfig:
        """``CHECKIN_PUBLIC_URL``, ``CHECKIN_TWILIO_SIGNATURES`` (on|off), ``TWILIO_*``."""
        flag = environ.get("CHECKIN_TWILIO_SIGNATURES", "on").strip().lower()
        if flag not in ("on", "off", "true", "false", "1", "0"):
            raise ConfigError("CHECKIN_TWILIO_SIGNATURES: must be on or off")
        return cls(
            public_url=environ.get("CHECKIN_PUBLIC_URL", "").rstrip("/"),
            signatures=flag in ("on", "true", "1"),
            account_sid=environ.get("TWILIO_ACCOUNT_SID", ""),
            auth_token=environ.get("TWILIO_AUTH_TOKEN", ""),
            api_base_url=environ.get("TWILIO_API_BASE_URL", ""),
        )

    def stream_url(self, request_base: str) -> str:
        """The ``wss://`` URL of ``/voice/stream`` as Twilio must call it."""
        base = self.public_url or request_base.rstrip("/")
        parts = urlsplit(base)
        scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/voice/stream"


class ConversationDialogue:
    """``Conversation`` as the phone loop's ``Dialogue``."""

    def __init__(self, conversation: Conversation, runtime: Runtime | None = None) -> None:
        self._conversation = conversation
        self._runtime = runtime
        self._closed = False

    def host_news(self) -> AsyncIterator[str] | None:
        """After check-in, the host's answer as it comes (``voice.call.HostNews``)."""
        return self._runtime.host_news(self._conversation) if self._runtime else None

    async def greeting(self) -> str:
        """The visit's first line."""
        return (await self._conversation.greet()).text

    def replies(self, utterance: str | None, *, silence_s: float = 0.0) -> AsyncIterator[str]:
        """The reply to one turn, sentence by sentence."""
        return self._conversation.replies(utterance, silence_s=silence_s)

    @property
    def done(self) -> bool:
        """The visit is over."""
        return self._conversation.session.done

    @property
    def wants_transfer(self) -> bool:
        """The visit ended in a hand-over to a person."""
        return self._conversation.session.state is CheckInState.TRANSFER_HUMAN

    async def close(self) -> None:
        """End the visit record once."""
        if not self._closed:
            self._closed = True
            await self._conversation.close()


class PhoneChannel:
    """The phone channel's long-lived parts: validator, speech engines, phrase cache."""

    def __init__(self, runtime: Runtime, config: PhoneConfig, *,
                 stt: SpeechToText | None = None, tts: TextToSpeech | None = None,
                 control: CallControl | None = None) -> None:
        self.runtime = runtime
        self.config = config
        self.validator = RequestValidator(config.auth_token) if config.auth_token else None
        settings = runtime.settings
        _check_providers(settings)
        self._engine = WhisperEngine()
        self._warming: asyncio.Future[object] | None = None
        self._stt = stt
        self._deepgram = _deepgram(settings) if stt is None else None
        self.offline_tts: TextToSpeech = tts or _offline_tts(settings)
        self._cloud_tts = _elevenlabs(settings) if tts is None else None
        offline_voice = settings.speech.offline_tts if tts is None else "injected"
        self.stt_health = ProviderHealth(
            mode=settings.providers.stt,
            engine="deepgram" if self._deepgram else "whisper-tiny.en",
            fallback="whisper-tiny.en" if self._deepgram else "")
        self.tts_health = ProviderHealth(
            mode=settings.providers.tts,
            engine="elevenlabs" if self._cloud_tts else offline_voice,
            fallback=offline_voice if self._cloud_tts else "")
        # Fixed phrases (greeting, filler) come from one process-wide synthesiser; replies from
        # a per-call one (text_to_speech), so one call's fail-over does not stick to the next.
        self.tts = self.text_to_speech()
        self.phrases = CachedPhrases(self.tts)
        self.control = control or (TwilioCallControl(
            account_sid=config.account_sid, auth_token=config.auth_token,
            base_url=config.api_base_url, timeout_s=runtime.settings.timeouts.tool_s)
            if config.account_sid and config.auth_token else None)
        t = runtime.settings.timeouts
        self.call_settings = CallSettings(
            silence_s=t.silence_s, filler_after_s=t.filler_after_s, filler_text=FILLER,
            reception_phone=runtime.settings.site.reception_phone)

    def announce(self) -> None:
        """Say loudly at start-up when webhooks are not authenticated."""
        if not self.config.signatures:
            log.warning("twilio_signatures_off", code="insecure-dev-setting")
            print("checkin: WARNING: CHECKIN_TWILIO_SIGNATURES=off: Twilio webhook and stream "
                  "signatures are NOT checked. Never run like this in production.",
                  file=sys.stderr, flush=True)
        elif self.validator is None:
            log.error("twilio_auth_token_missing", code="phone-unconfigured")

    def valid(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Whether ``signature`` is Twilio's for ``url`` and ``params``."""
        if not self.config.signatures:
            return True
        if self.validator is None or not signature:
            return False
        return bool(self.validator.validate(url, dict(params), signature))

    def text_to_speech(self) -> TextToSpeech:
        """The synthesiser for one call: the cloud voice with the offline one behind it."""
        if self._cloud_tts is None:
            return self.offline_tts
        return FallbackTextToSpeech(self._cloud_tts, self.offline_tts, self.tts_health)

    def health(self) -> dict[str, dict[str, object]]:
        """The speech engines' state for ``/health`` (codes and times only)."""
        stt = self.stt_health.snapshot()
        if self._stt is None:
            stt["offline_model"] = "loaded" if self._engine.loaded else "not_loaded"
        return {"stt": stt, "tts": self.tts_health.snapshot()}

    async def aclose(self) -> None:
        """Close the cloud synthesiser's connection pool."""
        if self._cloud_tts is not None:
            await self._cloud_tts.aclose()

    def prepare(self) -> None:
        """Start loading the recogniser's model in a thread (Twilio connects ~1 s later)."""
        if self._stt is None and self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, self._engine.load)
            self._warming.add_done_callback(_log_load_failure)

    async def speech_to_text(self) -> SpeechToText:
        """The recogniser for one call, primed with the directory's names."""
        if self._stt is not None:
            return self._stt
        self.prepare()
        directory = await self.runtime.directory()
        names = [e.full_name for e in directory.employees if e.active]
        offline = WhisperSpeechToText(self._engine, hotwords=names[:HOTWORD_LIMIT])
        if self._deepgram is None:
            return offline
        return FallbackSpeechToText(self._deepgram.with_keyterms(names[:KEYTERM_LIMIT]),
                                    offline, self.stt_health)

    async def dialogue(self, start: Start) -> ConversationDialogue:
        """A new visit for the call that just started."""
        conversation = await self.runtime.new_conversation(channel="phone")
        structlog.contextvars.bind_contextvars(visit_id=conversation.visit_id)
        return ConversationDialogue(conversation, self.runtime)


def _log_load_failure(future: asyncio.Future[object]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("stt_model_load_failed", error_type=type(future.exception()).__name__)


def _check_providers(settings: Settings) -> None:
    # load_settings already refused a cloud engine without its key; a Settings built some
    # other way (tests, scripts) gets the same check here, at start-up rather than mid-call.
    creds = settings.credentials
    if settings.providers.stt == "deepgram" and not creds.deepgram_api_key:
        raise ConfigError("providers.stt is deepgram: set DEEPGRAM_API_KEY")
    if settings.providers.tts == "elevenlabs" and not (creds.elevenlabs_api_key
                                                       and settings.speech.elevenlabs_voice_id):
        raise ConfigError("providers.tts is elevenlabs: set ELEVENLABS_API_KEY and "
                          "ELEVENLABS_VOICE_ID")


def _deepgram(settings: Settings) -> DeepgramSpeechToText | None:
    if settings.providers.stt != "deepgram" or settings.credentials.deepgram_api_key is None:
        return None
    from checkin.voice.deepgram import DeepgramSpeechToText  # the SDK loads only when chosen

    s = settings.speech
    return DeepgramSpeechToText(
        api_key=settings.credentials.deepgram_api_key.get_secret_value(),
        base_url=s.deepgram_base_url, model=s.deepgram_model,
        endpointing_ms=s.deepgram_endpointing_ms, utterance_end_ms=s.deepgram_utterance_end_ms)


def _elevenlabs(settings: Settings) -> ElevenLabsTextToSpeech | None:
    key = settings.credentials.elevenlabs_api_key
    if settings.providers.tts != "elevenlabs" or key is None:
        return None
    from checkin.voice.elevenlabs import ElevenLabsTextToSpeech

    s = settings.speech
    return ElevenLabsTextToSpeech(api_key=key.get_secret_value(),
                                  voice_id=s.elevenlabs_voice_id, base_url=s.elevenlabs_base_url,
                                  model_id=s.elevenlabs_model, read_s=s.elevenlabs_read_s)


def _offline_tts(settings: Settings) -> TextToSpeech:
    if settings.speech.offline_tts == "piper":
        from checkin.voice.piper import PiperTextToSpeech, piper_available

        if not piper_available():
            raise ConfigError("speech.offline_tts is piper: install the GPL-3.0 extra with "
                              "pip install 'checkin[piper]' (see README, Licences)")
        return PiperTextToSpeech()
    return FliteTextToSpeech()


def incoming_twiml(stream_url: str, parameters: Sequence[tuple[str, str]]) -> str:
    """``<Connect><Stream>`` with ``parameters`` as ``<Parameter>`` children."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters:
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def _public_http_url(channel: PhoneChannel, request: Request) -> str:
    base = channel.config.public_url or str(request.base_url).rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


def make_router(channel: PhoneChannel) -> APIRouter:
    """The ``/voice`` routes for ``channel``."""
    router = APIRouter(prefix="/voice")

    @router.post("/incoming", summary="Twilio incoming-call webhook: answers TwiML")
    async def incoming(request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        url = _public_http_url(channel, request)
        if not channel.valid(url, params, request.headers.get("X-Twilio-Signature")):
            log.warning("twilio_signature_rejected", route="incoming")
            return Response(status_code=403)
        log.info("call_incoming", direction=params.get("Direction", ""))
        channel.prepare()
        twiml = incoming_twiml(
            channel.config.stream_url(str(request.base_url)),
            [("site", channel.runtime.settings.site.company), ("channel", "phone")],
        )
        return Response(content=twiml, media_type="text/xml")

    @router.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        url = channel.config.stream_url(str(websocket.base_url).replace("ws", "http", 1))
        if not channel.valid(url, {}, websocket.headers.get("X-Twilio-Signature")):
            log.warning("twilio_signature_rejected", route="stream")
            await websocket.close(code=1008)  # before accept: the handshake gets 403
            return
        await websocket.accept()
        call = PhoneCall(
            _StarletteSocket(websocket), dialogue=channel.dialogue,
            stt=await channel.speech_to_text(), tts=channel.text_to_speech(),
            phrases=channel.phrases,
            control=channel.control, settings=channel.call_settings)
        await call.run()
        structlog.contextvars.unbind_contextvars("visit_id")

    return router


class _StarletteSocket:
    """Starlette's WebSocket as a ``MediaSocket``."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def receive(self) -> str | None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return None
                if message.get("text") is not None:
                    return str(message["text"])
                # Twilio sends only text frames; a binary one is skipped like any bad frame.
                log.warning("frame_skipped", code="binary-frame")
        except (WebSocketDisconnect, RuntimeError):
            return None

    async def send(self, text: str) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            try:
                await self._ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass  # the caller hung up while we spoke; the receive side will notice

    async def close(self) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            try:
                await self._ws.close()
            except (RuntimeError, OSError):
                pass


def phone_channel(runtime: Runtime, environ: Mapping[str, str] | None = None) -> PhoneChannel:
    """The phone channel for ``runtime``, configured from ``environ`` (default: os.environ)."""
    return PhoneChannel(runtime, PhoneConfig.from_environ(os.environ if environ is None
                                                         else environ))
