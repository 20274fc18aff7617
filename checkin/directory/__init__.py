"""The employee directory: who works here, how to find them by name, and their calendars."""
