"""Fixtures for integration tests: the session's nats-server and Prometheus live in ``tests/conftest.py``."""
