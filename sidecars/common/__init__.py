"""What both sidecars share: ``cli`` (flags, environment, secrets, logging, signals, the metrics
server's start and stop)."""
