"""The LangGraph agent and its surfaces (CLI, later HTTP API and Slack)."""
