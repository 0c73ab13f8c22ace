"""Tool families, one package each; a family's MCP surface is `tools/<family>/tools.py` with `register(server)`.

server/app.py lists every family. Behaviour modules beside `tools.py` raise `server.errors` errors and never import MCP.
"""
