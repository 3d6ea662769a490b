"""The site: server-rendered pages, feeds, sitemaps and the JSON API (FastAPI + Jinja2)."""
