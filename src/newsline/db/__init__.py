"""Storage: tables, sessions, migrations and queries by concern."""
