"""The orchestration server: database, orchestration rules, services, REST API and UI.

Nothing under ``tideflow.server`` imports the engine; the embedded client calls the
same data-access functions the API routes call.
"""
