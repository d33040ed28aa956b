"""Benchmark: the agent's non-LLM overhead per turn, next to LangGraph's prebuilt ReAct agent.

One turn is a user message, a model message with one auto-tier read (``inventory_get_stock``), the
tool result, and a final answer. The model answers instantly, so what is timed is everything else:
for opslayer, governance (validation, facts, two decisions, executions ledger, audit events), the
graph and its SQLite checkpoints, and the session's bookkeeping; for the baseline,
``create_react_agent`` with a ``ToolNode`` over the same tools, which run the handler directly (no
governance), on a SQLite checkpointer too. Both run on the same local systems, in the same process,
turns interleaved so drift hits both alike; each turn starts a new thread.
"""

from __future__ import annotations

import gc
import itertools
import json
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from agent.run.notifier import LogNotifier
from agent.run.session import AgentSession, open_checkpointer
from agent.settings import Settings
from agent.wiring import build_agent_deps, build_registry
from evals.scripted import ScriptedChatModel
from tools.registry import result_to_json, run
from tools.spec import CallContext, Systems, ToolSpec

ACTOR = "carol.desk"
REQUEST = "How many 14-inch Pro laptops are in Amsterdam?"
READ_CALL = {"name": "inventory_get_stock", "args": {"sku": "LAP-14-PRO", "warehouse": "AMS-1"}}
TARGETS = {"ratio_max": 1.5, "p50_ms_max": 15}
_WARMUP = 20


def _instant_reply(messages: list[BaseMessage]) -> AIMessage:
    """A read tool call after the user's message, then an answer quoting the tool's result."""
    if isinstance(messages[-1], ToolMessage):
        return AIMessage(content=f"Stock: {messages[-1].content[:80]}")
    call = {**READ_CALL, "id": f"call_{len(messages)}", "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


def bench_agent(tmp_dir: Path, turns: int = 200) -> dict[str, Any]:
    """p50/p99 ms per turn for opslayer's governed graph and for the ReAct baseline, and their ratio."""
    home = tmp_dir / "agent-bench"
    home.mkdir(parents=True, exist_ok=True)
    ours = _GovernedTurn(home)
    baseline = _react_turn(home, ours.systems)
    for _ in range(_WARMUP):
        ours()
        baseline()
    ours_ms, baseline_ms = _interleaved(ours, baseline, turns)
    agent, react = _percentiles(ours_ms), _percentiles(baseline_ms)
    return {
        "agent_turn_ms": agent,
        "react_baseline_turn_ms": react,
        "overhead_ratio_p50": round(agent["p50_ms"] / react["p50_ms"], 2),
        "turns": turns,
        "targets": dict(TARGETS),
    }


class _GovernedTurn:
    def __init__(self, home: Path) -> None:
        settings = Settings(home=home, grounding=False, _env_file=None)
        self.session = AgentSession(
            build_agent_deps(settings, model=ScriptedChatModel(reply=_instant_reply), notifier=LogNotifier()),
            open_checkpointer(settings.checkpoints_db),
        )
        self.systems: Systems = self.session.deps.systems

    def __call__(self) -> None:
        result = self.session.send(REQUEST, actor_id=ACTOR)
        if not result.answer or not result.answer.startswith("Stock: ["):
            raise RuntimeError(f"the governed turn did not run the read: {result.answer!r}")


def _react_turn(home: Path, systems: Systems) -> Callable[[], None]:
    from langgraph.prebuilt import create_react_agent

    def invoke(spec: ToolSpec, raw_args: dict[str, Any]) -> str:
        return result_to_json(run(spec, raw_args, CallContext(systems=systems, actor_id=ACTOR)))

    registry = build_registry()
    # The checkpointer opslayer itself uses (same file format and pragmas), so only the graphs differ.
    saver = open_checkpointer(home / "react-checkpoints.db")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of langchain's agents
        model = ScriptedChatModel(reply=_instant_reply)
        graph = create_react_agent(model, registry.langchain_tools(invoke), checkpointer=saver)
    threads = itertools.count()

    def turn() -> None:
        config: RunnableConfig = {"configurable": {"thread_id": f"react-{next(threads)}"}}
        state = graph.invoke({"messages": [HumanMessage(content=REQUEST)]}, config)
        if not str(state["messages"][-1].content).startswith("Stock: ["):
            raise RuntimeError("the ReAct turn did not run the read")

    return turn


def _interleaved(
    ours: Callable[[], None], baseline: Callable[[], None], turns: int
) -> tuple[list[float], list[float]]:
    ours_ms: list[float] = []
    baseline_ms: list[float] = []
    gc.collect()
    for _ in range(turns):
        ours_ms.append(_timed(ours))
        baseline_ms.append(_timed(baseline))
    return ours_ms, baseline_ms


def _timed(turn: Callable[[], None]) -> float:
    started = time.perf_counter_ns()
    turn()
    return (time.perf_counter_ns() - started) / 1e6


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(samples), 2), "p99_ms": round(cuts[98], 2)}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(bench_agent(Path(folder)), indent=2))
