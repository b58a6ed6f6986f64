"""Contracts and the thin runtime shared by every klt service.

Everything directly under ``shared`` (except ``shared.runtime``) is pure: data shapes, names and rules
that do no I/O, so each service and every test can rely on them without a server running.
"""
