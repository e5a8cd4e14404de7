"""Server-rendered pages, static files and the live websocket consumer."""
