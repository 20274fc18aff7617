"""Background jobs the server runs on a schedule (retention); imports services, never providers."""
