"""Ingest: fetch (polite HTTP) -> feeds (parse, discover, OPML) -> extract -> store (refresh)."""
