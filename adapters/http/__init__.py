"""The HTTP service (``leadflow serve``)."""
