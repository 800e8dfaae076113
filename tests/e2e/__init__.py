"""End-to-end tests: CLI processes, the Kafka broker, the browser, the demo and the bench."""
