"""The streamable-HTTP transport: loopback only, unless a bearer token guards every request.

Anyone who can reach the port can spend the fal budget and read files through the tools, so:
- a non-loopback bind address is refused unless FAL_VIDEO_MCP_HTTP_TOKEN is set;
- when a token is set, every HTTP request must carry `Authorization: Bearer <token>`;
- Host and Origin headers are checked against explicit lists (DNS-rebinding protection), always;
- uvicorn logs through the root logger (stderr, at --log-level), never to stdout.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sys
from collections.abc import Sequence
from typing import Any

from server.config import ENV_HTTP_TOKEN, ConfigError

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
WILDCARD_BINDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: Sequence[str]) -> list[str]:
    """Host header values accepted: loopback names, the bind address itself (unless a wildcard), and `extra`."""
    hosts = list(LOOPBACK_HOSTS)
    if host not in WILDCARD_BINDS and not is_loopback(host):
        hosts.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return hosts + [h for h in extra if h not in hosts]


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token, and refuse a token too short to be one."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{ENV_HTTP_TOKEN} is too short ({len(token)} characters); use a random token of at least "
            f"{MIN_TOKEN_LENGTH}, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"Refusing to listen on {host}: beyond loopback anyone who reaches the port could run paid jobs and "
            f"read files through the tools. Set {ENV_HTTP_TOKEN} to a random token (clients then send "
            "'Authorization: Bearer <token>'), or keep the default --host 127.0.0.1."
        )


class BearerTokenMiddleware:
    """Pure ASGI: every HTTP request needs `Authorization: Bearer <token>`; lifespan events pass through."""

    def __init__(self, app: Any, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not self._authorized(scope):
            client = scope.get("client") or ("?", 0)
            log.warning("HTTP request from %s without a valid bearer token refused", client[0])
            if scope["type"] == "http":
                body = b"Missing or wrong bearer token."
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="fal-video"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: dict[str, Any]) -> bool:
        values = [value for name, value in scope.get("headers", []) if name.lower() == b"authorization"]
        if len(values) != 1:
            return False
        scheme, _, credential = values[0].partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token)


def serve(
    server: Any,
    *,
    host: str,
    port: int,
    token: str | None,
    log_level: str,
    extra_hosts: Sequence[str] = (),
    extra_origins: Sequence[str] = (),
) -> None:
    """Run `server` (an MCPServer) over streamable HTTP until interrupted. Raises ConfigError before listening."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    check_bind(host, token)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts(host, port, extra_hosts),
        allowed_origins=[*LOOPBACK_ORIGINS, *extra_origins],
    )
    app: Any = server.streamable_http_app(transport_security=security, host=host)
    if token:
        from server.fal_gateway import LOG_REDACTOR

        LOG_REDACTOR.add(token)
        app = BearerTokenMiddleware(app, token)
    if not is_loopback(host):
        print(
            f"WARNING: fal-video-mcp is listening on {host}:{port}, reachable beyond this machine. Every request "
            f"needs the bearer token; accepted Host headers: {', '.join(security.allowed_hosts)} (add the names "
            "clients use with --allowed-host). Prefer 127.0.0.1 behind an SSH tunnel or a TLS proxy: the token "
            "travels in clear over plain HTTP.",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(app, host=host, port=port, log_config=None, log_level=log_level.lower())
    uvicorn.Server(config).run()
