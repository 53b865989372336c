"""The hub's small HTTP server (Starlette, served by uvicorn; port in hub.toml [http]).

`/status`: the fleet as JSON (sites, last heard, screens, the copy's head, rejections).
`/v/<payload>`, `/api/head/<site>/<seq>`: the inspection code's check page and the copy's
chain head (signage/inspection/web.py, docs/inspection-code.md).
Other parts of the hub add their routes to the app `create_app` returns."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..inspection.web import ScanDesk
from ..inspection.web import routes as inspection_routes
from ..trust import Trust, TrustFileError, load_trust
from .ingest import HubService


def board_json(svc: HubService) -> dict[str, Any]:
    now = time.time()
    ing = svc.ingest
    sites: list[dict[str, Any]] = []
    with ing.lock:
        for site, b in sorted(ing.boards.items()):
            st = ing.stores.get(site)
            sites.append({
                "site": site, "last_heard_s_ago": round(now - b.last_heard, 1),
                "silent": now - b.last_heard > svc.hub.cfg.silent_after_s,
                "online": b.online, "status": b.status,
                "copy": {"file": st.file, "bytes": st.size, "seq": st.last_seq} if st else None,
                "stored": b.stored, "duplicates": b.duplicates, "rejected": b.rejected,
                "last_rejection": b.last_reject or None, "witnessed": b.witnessed})
    return {"fv": 1, "records": ing.records, "sites": sites}


def create_app(svc: HubService) -> Starlette:
    async def status(_req: Request) -> JSONResponse:
        return JSONResponse(board_json(svc))

    return Starlette(routes=[Route("/status", status), *inspection_routes(scan_desk(svc))])


def scan_desk(svc: HubService) -> ScanDesk:
    """The inspection page's view of the hub: its trust file (re-read when it changes), the
    per-site log copies, and each site's scans file next to its copy (docs/fleet.md)."""
    hub = svc.hub
    root = hub.data_dir
    cache: dict[str, tuple[float, Trust]] = {}

    def trust() -> Trust | None:
        if hub.cfg.trust_file is None:
            return None
        path = hub.p(hub.cfg.trust_file)
        try:
            mtime = path.stat().st_mtime
            got = cache.get("t")
            if got is None or got[0] != mtime:
                cache["t"] = (mtime, load_trust(path))
            return cache["t"][1]
        except (OSError, TrustFileError):
            return None

    def log_dir_of(site: str) -> Path | None:
        d = root / site
        return d if d.is_dir() else None

    return ScanDesk(trust=trust, log_dir_of=log_dir_of,
                    scans_of=lambda site: root / site / "inspection-scans.jsonl")


def serve(svc: HubService) -> Any:
    """Run the app in a thread; returns the uvicorn.Server (set ``should_exit`` to stop it),
    None when [http] is off."""
    http = svc.hub.cfg.http
    if not http.enabled:
        return None
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(svc), host=http.listen, port=http.port,
                                           log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, name="hub-http", daemon=True).start()
    return server
