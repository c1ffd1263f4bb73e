"""Alembic migrations of the PostgreSQL store (run by ``kruispunt.store.postgres.migrate``)."""
