"""Exit codes of ``python -m tideflow.agent.run_flow`` (shared with the agent)."""

EXIT_COMPLETED = 0
EXIT_NOT_COMPLETED = 1
EXIT_LOAD_FAILED = 2
EXIT_NOT_CLAIMED = 3
