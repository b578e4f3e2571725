"""Orchestration rules for flow-run state changes.

Each rule is a small class that says which transitions it guards and decides ACCEPT,
REJECT (with a reason; the run keeps its state) or ABORT (the proposer must stop, e.g.
another engine already claimed the run). Rules are pure: they look at the current run
and the proposed state only; the data-access layer applies the decision atomically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from tideflow.schemas.core import SetStateStatus
from tideflow.states import TERMINAL_STATES, StateType

ANY: frozenset[StateType | None] = frozenset({*StateType, None})


@dataclass(frozen=True, slots=True)
class TransitionContext:
    """What a rule may look at."""

    from_type: StateType | None
    from_name: str | None
    to_type: StateType
    to_name: str
    force: bool
    run: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Decision:
    """A rule's verdict."""

    status: SetStateStatus
    reason: str | None = None


ACCEPT = Decision(SetStateStatus.ACCEPT)


class OrchestrationRule(ABC):
    """Base rule: guards ``from_states`` x ``to_states``."""

    from_states: ClassVar[frozenset[StateType | None]] = ANY
    to_states: ClassVar[frozenset[StateType]] = frozenset(StateType)
    #: ``force=True`` (an operator's explicit override) bypasses this rule.
    forceable: ClassVar[bool] = True

    def applies(self, ctx: TransitionContext) -> bool:
        return ctx.from_type in self.from_states and ctx.to_type in self.to_states

    @abstractmethod
    def decide(self, ctx: TransitionContext) -> Decision:
        """ACCEPT, or REJECT/ABORT with a reason."""


class PreventDuplicateClaims(OrchestrationRule):
    """A run can be started once: RUNNING from RUNNING/CANCELLING is refused (abort)."""

    from_states = frozenset({StateType.RUNNING, StateType.CANCELLING})
    to_states = frozenset({StateType.RUNNING})
    forceable = False

    def decide(self, ctx: TransitionContext) -> Decision:
        return Decision(
            SetStateStatus.ABORT,
            f"This run is already {ctx.from_name}: another engine has claimed it.",
        )


class PreventLeavingTerminalStates(OrchestrationRule):
    """A finished run stays finished, except through an explicit retry or rerun.

    Allowed out of a terminal state: SCHEDULED (AwaitingRetry or a rerun request) and
    PENDING only when forced; nothing may overwrite a Completed run's result.
    """

    from_states = frozenset(TERMINAL_STATES)

    def decide(self, ctx: TransitionContext) -> Decision:
        if ctx.to_type is StateType.SCHEDULED and ctx.from_type is not StateType.COMPLETED:
            return ACCEPT
        if ctx.from_type is StateType.COMPLETED:
            return Decision(
                SetStateStatus.ABORT if ctx.to_type is StateType.RUNNING else SetStateStatus.REJECT,
                f"This run already completed; a {ctx.to_name} state would overwrite its "
                "result. Start a new run, or force the change.",
            )
        return Decision(
            SetStateStatus.ABORT if ctx.to_type is StateType.RUNNING else SetStateStatus.REJECT,
            f"This run already ended {ctx.from_name}; it can only be retried "
            f"(AwaitingRetry), not moved to {ctx.to_name}.",
        )


class FinishCancelling(OrchestrationRule):
    """A Cancelling run can only end (Cancelled, or another final state)."""

    from_states = frozenset({StateType.CANCELLING})

    def decide(self, ctx: TransitionContext) -> Decision:
        if ctx.to_type in TERMINAL_STATES or ctx.to_type is StateType.CANCELLING:
            return ACCEPT
        return Decision(
            SetStateStatus.REJECT,
            f"This run is being cancelled; it cannot move to {ctx.to_name}.",
        )


class CancelOnlyActiveRuns(OrchestrationRule):
    """Cancelling applies to runs that are running or paused; others cancel directly."""

    to_states = frozenset({StateType.CANCELLING})

    def decide(self, ctx: TransitionContext) -> Decision:
        if ctx.from_type in (StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING):
            return ACCEPT
        return Decision(
            SetStateStatus.REJECT,
            f"Only a running or paused run can be Cancelling; this one is {ctx.from_name}. "
            "Propose Cancelled instead.",
        )


class RequireStartBeforeFinish(OrchestrationRule):
    """Completed needs a run that was running (no jumping from Scheduled to Completed)."""

    from_states = frozenset({StateType.SCHEDULED, None})
    to_states = frozenset({StateType.COMPLETED})

    def decide(self, ctx: TransitionContext) -> Decision:
        return Decision(
            SetStateStatus.REJECT,
            f"A run cannot complete without running; it is {ctx.from_name or 'new'}.",
        )


FLOW_RUN_RULES: tuple[OrchestrationRule, ...] = (
    PreventDuplicateClaims(),
    PreventLeavingTerminalStates(),
    FinishCancelling(),
    CancelOnlyActiveRuns(),
    RequireStartBeforeFinish(),
)


def evaluate(
    ctx: TransitionContext, rules: tuple[OrchestrationRule, ...] = FLOW_RUN_RULES
) -> Decision:
    """The first non-accepting decision of the rules that apply, else ACCEPT."""
    for rule in rules:
        if ctx.force and rule.forceable:
            continue
        if rule.applies(ctx):
            decision = rule.decide(ctx)
            if decision.status is not SetStateStatus.ACCEPT:
                return decision
    return ACCEPT
