"""Defaults that settings and governance share; imports nothing, so reading them costs nothing."""

from __future__ import annotations

DEFAULT_SETTLER_ROLES: tuple[str, ...] = ("service_desk", "incident_manager")
"""Who may settle an execution a crash left ``started``: the people who run the service desk."""
