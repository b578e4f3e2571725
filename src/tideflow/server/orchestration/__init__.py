"""State-transition rules: one implementation for the embedded and the HTTP door."""

from tideflow.server.orchestration.rules import (
    FLOW_RUN_RULES,
    Decision,
    OrchestrationRule,
    TransitionContext,
    evaluate,
)

__all__ = ["FLOW_RUN_RULES", "Decision", "OrchestrationRule", "TransitionContext", "evaluate"]
