"""checkin: a voice receptionist for office lobbies."""

__version__ = "0.1.0"
