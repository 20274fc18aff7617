"""The phone channel's audio pipeline: Twilio Media Streams in and out, speech in and out.

Imports ``checkin.providers`` and ``checkin.errors`` only (plus numpy and vendor SDKs); the
dialogue is handed in as an object, so nothing here knows about tools, states, Slack or the DB.
"""
