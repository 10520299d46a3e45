"""The interactive API reference page of the local stack, `GET /_devstack/reference` on the API's own origin.

Swagger UI from web/node_modules (swagger-ui-dist, installed by `make run` with npm ci): nothing is fetched
from anywhere but this stack. The page loads the API's `GET /openapi.json` and points "Try it out" at the
origin it was served from, so requests go to this stack whatever its port (the document's `servers` name
port 8000). Local only: devstack serves it; the deployed app has no such route.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.ops.stage import ROOT

REFERENCE_PATH = "/_devstack/reference"
SPEC_URL = "/openapi.json"
DIST = ROOT / "web" / "node_modules" / "swagger-ui-dist"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

# The files of swagger-ui-dist the page uses (name served -> content type). Nothing else is served from there.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
INIT_SCRIPT = "reference-init.js"

_MISSING = (
    "The API reference page needs web/node_modules (the swagger-ui-dist package), which is not installed. "
    "Install Node.js (with npm), then start the stack again with `make run`: it runs npm ci in web/."
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Owner portal API reference (local stack)</title>
  <link rel="icon" type="image/png" href="{base}/favicon-32x32.png">
  <link rel="stylesheet" href="{base}/swagger-ui.css">
</head>
<body>
  <noscript>The API reference needs JavaScript. The document itself is at {spec}.</noscript>
  <p id="reference-status">Loading {spec}…</p>
  <div id="reference"></div>
  <script src="{base}/swagger-ui-bundle.js"></script>
  <script src="{base}/{init}"></script>
</body>
</html>
"""

# Fetches the document itself so that "Try it out" targets this origin, and says so plainly if it cannot.
_INIT = """"use strict";
(function () {
  var status = document.getElementById("reference-status");
  fetch(%(spec)s, { headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("GET " + %(spec)s + " answered " + response.status);
      }
      return response.json();
    })
    .then(function (spec) {
      spec.servers = [{ url: window.location.origin, description: "this local stack" }];
      status.remove();
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: "#reference",
        deepLinking: true,
        persistAuthorization: true,
        displayRequestDuration: true,
        validatorUrl: null
      });
    })
    .catch(function (error) {
      status.textContent = "Could not load the API document: " + error.message;
    });
})();
"""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def handles(path: str) -> bool:
    """Whether `path` is the reference page or one of its files."""
    return path == REFERENCE_PATH or path.startswith(REFERENCE_PATH + "/")


def respond(path: str, dist: Path = DIST) -> Reply:
    """The reply to `GET path` for a path that `handles` accepts."""
    if path in (REFERENCE_PATH, REFERENCE_PATH + "/"):
        if not (dist / "swagger-ui-bundle.js").is_file():
            return Reply(503, HTML, _missing_page().encode())
        page = _PAGE.format(base=REFERENCE_PATH, spec=SPEC_URL, init=INIT_SCRIPT)
        return Reply(200, HTML, page.encode(), {"Cache-Control": "no-cache"})
    name = path[len(REFERENCE_PATH) + 1:]
    if name == INIT_SCRIPT:
        return Reply(200, ASSETS["swagger-ui-bundle.js"], (_INIT % {"spec": f'"{SPEC_URL}"'}).encode(),
                     {"Cache-Control": "no-cache"})
    if name not in ASSETS:
        return Reply(404, TEXT, b"Not found")
    try:
        body = (dist / name).read_bytes()
    except FileNotFoundError:
        return Reply(503, TEXT, _MISSING.encode())
    return Reply(200, ASSETS[name], body, {"Cache-Control": "no-cache"})


def available(dist: Path = DIST) -> bool:
    """Whether the page's files are installed (for the banner)."""
    return (dist / "swagger-ui-bundle.js").is_file()


def _missing_page() -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>API reference not installed</title></head><body>"
            f"<h1>API reference not installed</h1><p>{_MISSING}</p>"
            f"<p>The API document itself is served at <a href=\"{SPEC_URL}\">{SPEC_URL}</a>.</p></body></html>")
