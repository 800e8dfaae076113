"""The use cases: the application service and what it needs around the domain."""

from leadflow.service.logs import configure_default

# Before any use-case module logs: structlog's own default would print to stdout.
configure_default()
