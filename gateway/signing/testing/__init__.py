"""Generated PKI and signed samples for tests and benchmarks; never trusted in production."""
