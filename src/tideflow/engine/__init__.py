"""Running flows and tasks: contexts, the task and flow engines, futures and the
write-behind recorder. Nothing here imports FastAPI or the server's web layer."""
