"""The routing suite with the real embedded GGUF (SmolLM2-135M): accuracy overall, and per router.

The model's own choices are weak at this size; the test holds the design to its promise (at least 90% of
turns routed right) and checks that the accounting of model-chosen and fallback-routed turns adds up.
"""

from __future__ import annotations

import pytest

from bench.agent_bench import load_suite, run_suite, summarize_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded_llm():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from agent.llm import LLMConfig, get_llm

    try:
        llm = get_llm(LLMConfig(n_threads=1))  # one thread: stable timing on a shared 2-core machine
    except ImportError as err:
        pytest.skip(str(err))
    return llm


def test_suite_with_the_embedded_model(embedded_llm):
    from agent.router import Router, RouterConfig

    cases = load_suite()
    summary = summarize_suite(run_suite(Router(embedded_llm, RouterConfig(max_tokens=48)), cases))
    assert summary["overall"]["accuracy"] >= 0.9, summary["failures"]
    assert summary["model_chosen"]["n"] + summary["fallback_routed"]["n"] == len(cases)
    assert summary["model_raw_choice"]["n"] + summary["model_raw_choice"]["invalid_or_failed"] == len(cases)
    if summary["model_chosen"]["n"]:
        assert summary["model_chosen"]["accuracy"] >= 0.9  # an accepted choice is one the message supports
