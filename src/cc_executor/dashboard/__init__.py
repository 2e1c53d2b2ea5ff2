"""The web dashboard: static pages the server ships at ``/`` that speak the same WebSocket protocol as every
client (docs/dashboard.md). No build step: the files under ``static/`` are what the browser gets."""
