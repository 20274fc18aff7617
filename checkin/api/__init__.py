"""HTTP routes; thin, each in its own module, mounted by ``checkin.app``."""
