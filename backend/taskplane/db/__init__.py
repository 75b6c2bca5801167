"""PostgreSQL (or SQLite in dev mode): static task configs, execution records, API tokens."""
