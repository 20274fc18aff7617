"""Notifiers: how a host hears about their visitor (offline console now; Slack and SMS later)."""
