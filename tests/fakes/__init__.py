"""Stateful fakes of real ops systems, served at the HTTP edge with respx (no network)."""
