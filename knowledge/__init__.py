"""Runbooks and past incidents: storage, ingestion and retrieval (grounding issue)."""
