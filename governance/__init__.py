"""Deterministic governance: policy, decide(), approvals, executions ledger, usage ledger, people, audit.

Imports nothing from langchain/langgraph and makes no network call.
"""
