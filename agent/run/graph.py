"""The governed agent graph.

    START → ground → plan ─(no tool calls)→ END
                      │
                      └→ govern ─→ act ─→ plan …
                            │       ↕
                            └→ await_approval (interrupt until every pending approval is final)

The only edge into tool handlers is ``act`` → :func:`agent.run.executor.execute`, which demands the
decision ``govern`` (or the re-check in ``act``) made for exactly that call.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.run import nodes
from agent.run.errors import GovernanceViolation
from agent.run.state import AgentDeps, AgentState


def build_graph(checkpointer: BaseCheckpointSaver[str]) -> CompiledStateGraph[AgentState, AgentDeps]:
    """Compile the graph; a checkpointer is required (without one ``interrupt()`` saves nothing)."""
    if checkpointer is None:
        raise GovernanceViolation("the agent graph needs a checkpointer: approvals must survive a restart")
    graph = StateGraph(AgentState, context_schema=AgentDeps)
    graph.add_node("ground", nodes.ground)
    graph.add_node("plan", nodes.plan)
    graph.add_node("govern", nodes.govern)
    graph.add_node("act", nodes.act)
    graph.add_node("await_approval", nodes.await_approval)
    graph.add_conditional_edges(START, nodes.at_start, ["ground", "plan"])
    graph.add_edge("ground", "plan")
    graph.add_conditional_edges("plan", nodes.after_plan, ["govern", END])
    graph.add_conditional_edges("govern", nodes.after_govern, ["act", "await_approval", "plan"])
    graph.add_conditional_edges("act", nodes.after_act, ["await_approval", "plan"])
    graph.add_conditional_edges("await_approval", nodes.after_await, ["await_approval", "act", "plan"])
    return graph.compile(checkpointer=checkpointer)
