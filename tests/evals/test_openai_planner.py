"""The openai planner drives a case through the real ChatOpenAI client against a scripted endpoint
(respx: no network), and its trial is scored like any other."""

from __future__ import annotations

from pathlib import Path

from evals.suite.planners import PlannerSpec
from evals.suite.scoring import score
from evals.suite.trial import run_trial
from tests.agent.graph_support import LLM_BASE_URL, ScriptedLLM, answer, calls, tool_call
from tests.evals.conftest import CASES


def test_an_openai_compatible_endpoint_solves_a_stock_check(
    llm: ScriptedLLM, systems_template: Path, home: Path
) -> None:
    case = next(c for c in CASES if c.id.endswith("stock-ssd-1tb-nvme-ams-1"))
    llm.queue(
        calls(tool_call("inventory_get_stock", {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}, id="c1")),
        answer("SSD-1TB-NVME at AMS-1: 64 on hand, 4 reserved."),
    )
    planner = PlannerSpec(name="openai", model="gpt-4.1-mini", base_url=LLM_BASE_URL, api_key="sk-test")
    observed = run_trial(case, planner, template=systems_template, home=home)
    scores = score(case, observed)
    assert scores["passed"], scores["checks"]
    assert llm.requests[0]["model"] == "gpt-4.1-mini"
