"""The eval suite: scenario cases (``evals/scenarios``), isolated trials, deterministic scoring on
the final state of the systems, pass^k and injection metrics, runs and reports (``opslayer eval``);
optionally an LLM judge (apart from pass/fail) and an LLM playing the user of cases with a brief."""
