"""The API of the local stack, served in the devstack process by Chalice's own local server.

`chalice local` is not spawned: its command applies `.chalice/config.json`'s variables over the process
environment when it loads the app (`CLIFactory.load_chalice_app` updates the environ it was given, which is
`os.environ`), so settings given to `make run` never reached the API. Here the Chalice config is built the
way `chalice local` builds it, with a scratch environ for that update; the process environment stays as
`chalicelib.ops.stage.apply` left it (stage defaults, then the caller's overrides). One process also means
no child to orphan: stopping devstack stops the API.

Differences from `chalice local`, all local-only conveniences:
- an unknown path answers 404 `not_found` in the API.md format, as API Gateway's gateway responses do in AWS
  (infra/stack.py), instead of a 403 that echoes the caller's Authorization header;
- no access-log line per request (`--access-log` turns them on);
- a listen backlog of 128 instead of 5, so a burst of concurrent connections is queued, not reset;
- `GET /_devstack/sms?since=<n>&phone=<e164>` lists the texts the app sent (see `devstack.sms`);
- `GET /_devstack/reference` is the interactive API reference page for `GET /openapi.json` (see
  `devstack.reference`), on the API's own origin so its "Try it out" calls need no CORS.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    ThreadedHTTPServer,
)

from chalicelib.api.http import JSON, dumps, error_body
from devstack import reference
from devstack.sms import SmsLog

SMS_PATH = "/_devstack/sms"


class _Handler(ChaliceRequestHandler):
    sms_log: SmsLog | None = None
    access_log = False

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            super().log_message(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"[api] {format % args}\n")

    def _generic_handle(self) -> None:
        if urlsplit(self.path).path.startswith("/_devstack/"):
            self._parse_payload()  # drain any body so the connection stays usable
            self._serve_devstack()
            return
        super()._generic_handle()

    # The base class binds its verbs to its own `_generic_handle`; bind them to the one above.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_http_response(status, {"Content-Type": JSON, **(headers or {})}, dumps(body).encode())

    def _send_error_response(self, error: Any) -> None:
        if isinstance(error, ForbiddenError):
            # The app declares no Chalice authorizer, so the local gateway's 403 only means "no such route".
            rid = str((error.headers or {}).get("x-amzn-RequestId", ""))
            self._send_json(404, error_body("not_found", "Not found"), {"X-Request-Id": rid} if rid else None)
            return
        super()._send_error_response(error)

    def _serve_devstack(self) -> None:
        parts = urlsplit(self.path)
        if reference.handles(parts.path):
            self._serve_reference(parts.path)
            return
        if parts.path != SMS_PATH or self.sms_log is None:
            self._send_json(404, error_body("not_found", "Not found"))
            return
        if self.command != "GET":
            self._send_json(405, error_body("method_not_allowed", "This method is not allowed on this resource."))
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            since = int(query.get("since", "0"))
        except ValueError:
            self._send_json(400, error_body("validation_error", "The request is not valid.",
                                            {"since": "must be an integer"}))
            return
        self.sms_log.collect()
        items, last = self.sms_log.since(since, query.get("phone"))
        self._send_json(200, {"items": items, "last": last})

    def _serve_reference(self, path: str) -> None:
        if self.command not in ("GET", "HEAD"):
            self._send_json(405, error_body("method_not_allowed", "This method is not allowed on this resource."))
            return
        reply = reference.respond(path)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        if self.command == "GET":
            self._send_http_response(reply.status, headers, reply.body)
            return
        self.send_response(reply.status)  # HEAD: the GET's headers, no body
        self._send_headers({**headers, "Content-Length": str(len(reply.body))})  # ends the headers


class _Server(ThreadedHTTPServer):
    # socketserver's default backlog of 5 resets connections when a page (or a test) opens 20 at once.
    request_queue_size = 128


class ApiServer:
    """Chalice's local server for the app on a thread of this process."""

    def __init__(self, stage: str, host: str, port: int, sms_log: SmsLog, access_log: bool = False):
        from chalice.cli.factory import CLIFactory
        from chalice.deploy.validate import validate_routes

        from chalicelib.ops.stage import ROOT

        # A scratch environ: Chalice writes the stage's variables into it, not over the caller's settings.
        config = CLIFactory(str(ROOT), environ={}).create_config_obj(chalice_stage_name=stage)
        app = config.chalice_app
        validate_routes(app.routes)  # what `chalice local` checks: routes `chalice deploy` would accept
        if not isinstance(app, LocalChalice):
            # As chalice.local.create_local_server does: a per-thread current_request for a threaded server.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        handler = type("Handler", (_Handler,), {"sms_log": sms_log, "access_log": access_log})
        self._server = LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=_Server)
        self._thread = threading.Thread(target=functools.partial(self._server.server.serve_forever, 0.2),
                                        name="api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and free the port (requests in flight finish on their own threads)."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server.server_close()
