"""Notifiers: how a host hears about their visitor (console, Slack, SMS) and answers.

slack.py, sms.py and offline.py are the adapters; chain.py the retry/fallback wrappers;
reception.py the reception alert; replies.py the in-process hub of host answers; setup.py builds
the stack from settings. Imports: providers, errors, config (setup.py); never voice/ or states.
"""
