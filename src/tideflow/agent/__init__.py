"""Agents: poll work queues, claim flow runs, run them in processes, report states.

``tideflow agent start -q default`` runs an :class:`Agent`; ``python -m
tideflow.agent.run_flow FLOW_RUN_ID`` is what it starts for each run.
"""

from tideflow.agent.agent import Agent

__all__ = ["Agent"]
