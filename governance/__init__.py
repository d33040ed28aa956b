"""Deterministic governance: policy, decide(), approvals, usage ledger, people directory, audit chain.

Imports nothing from langchain/langgraph and makes no network call.
"""
