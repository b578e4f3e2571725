"""Data access: functions over a SQLAlchemy ``Connection``, shared by API routes,
the UI and the embedded client. They validate, apply orchestration rules and write;
they never commit (the caller owns the transaction)."""
