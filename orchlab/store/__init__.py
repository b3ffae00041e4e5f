"""The store: engines (SQLite, PostgreSQL), migrations, the Store itself, export, import, copy."""
