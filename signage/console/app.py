"""`signage console`: the site manager's web pages (Starlette + Jinja2, served by uvicorn).

Thin by design: every rule lives elsewhere (the loader validates, the daemon applies, the
audit judges); this file maps requests to those parts and renders the answers in Chinese.
Pages: 总览 (live state), 节目单 (playlists), 素材 (media), 报告 (reports), 账户 (accounts).
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import load_config, resolve
from ..i18n import _
from ..problems import InputError
from ..runtime.status import frame_of
from . import changes, media, reports
from .auth import ROLES, Session, Sessions, Users, csrf_ok
from .state import read_status

COOKIE = "signage_session"
LOGIN_COOKIE = "signage_login"
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
ITEM_FIELDS = ("id", "type", "text", "path", "duration_s", "category", "weight")


@dataclass
class Console:
    config: Path
    dir: Path
    upload_max: int
    users: Users
    sessions: Sessions
    env: Environment

    @property
    def site(self) -> changes.Site:
        return changes.Site.of(self.config)


def role_name(role: str) -> str:
    return _("administrator") if role == "admin" else _("inspector")


def _id(raw: str) -> str | None:
    """``raw`` when it is a screen or playlist id (the config's id rule), else None."""
    return raw if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", raw) else None


def make_app(config: Path, *, secure_cookies: bool = False) -> Starlette:
    cfg = load_config(config)
    cdir = resolve(config.parent, cfg.console.dir)
    cdir.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=PackageLoader("signage.console", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.globals.update(_=_, role_name=role_name)
    con = Console(config, cdir, cfg.console.upload_max_mb * 1_000_000,
                  Users(cdir / "users.json"), Sessions(cdir / "sessions.json"), env)

    def page(request: Request, template: str, s: Session | None, status: int = 200,
             **ctx: Any) -> Response:
        html = env.get_template(template).render(request=request, s=s, nav=template, **ctx)
        return secure(HTMLResponse(html, status_code=status))

    def secure(resp: Response, csp: str = PAGE_CSP) -> Response:
        resp.headers["Content-Security-Policy"] = csp
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def session(request: Request) -> Session | None:
        tok = request.cookies.get(COOKIE)
        s = con.sessions.get(tok)
        if s is not None and con.users.role(s.user) != s.role:  # removed or changed meanwhile
            con.sessions.drop(tok)  # (`signage console` commands, while the console was down)
            return None
        return s

    Handler = Callable[[Request, Session], Awaitable[Response]]

    def view(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A page for any logged-in user."""
        async def wrapped(request: Request) -> Response:
            s = session(request)
            if s is None:
                return RedirectResponse("/login", status_code=303)
            return await fn(request, s)
        return wrapped

    def change(fn: Callable[[Request, Session, Any], Awaitable[Response]]
               ) -> Callable[[Request], Awaitable[Response]]:
        """A form post that changes something: logged in, CSRF token right, administrator."""
        async def wrapped(request: Request) -> Response:
            s = session(request)
            if s is None:
                return secure(PlainTextResponse(_("not logged in"), status_code=401))
            length = int(request.headers.get("content-length") or 0)
            if length > con.upload_max + 1_000_000:
                return secure(PlainTextResponse(_("upload too large"), status_code=413))
            form = await request.form(max_files=2, max_fields=40)
            try:
                if not csrf_ok(s, str(form.get("csrf") or "")):
                    return page(request, "error.html", s, 403, message=_(
                        "the form is out of date or forged (CSRF token missing or wrong); "
                        "nothing was changed. Reload the page and try again."))
                if s.role != "admin":
                    return page(request, "error.html", s, 403, message=_(
                        "inspectors can look but not change anything; nothing was changed."))
                return await fn(request, s, form)
            finally:
                await form.close()
        return wrapped

    # ---- login -----------------------------------------------------------------------------
    async def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        resp = page(request, "login.html", None, login_csrf=token, error=None,
                    no_users=not con.users.list())
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=secure_cookies, path="/login")
        return resp

    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        name = str(form.get("user") or "")[:64]
        password = str(form.get("password") or "")[:256]
        client = request.client.host if request.client else "?"
        keys = [f"ip:{client}", f"user:{name}"]
        token = secrets.token_urlsafe(24)

        def again(msg: str, status: int) -> Response:
            resp = page(request, "login.html", None, status, login_csrf=token, error=msg,
                        no_users=False)
            resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure_cookies, path="/login")
            return resp

        want = request.cookies.get(LOGIN_COOKIE) or ""
        if not want or not secrets.compare_digest(want, str(form.get("csrf") or "")):
            return again(_("the login form is out of date or forged; try again."), 403)
        if con.sessions.limited(keys):
            return again(_("too many failed logins; wait 5 minutes and try again."), 429)
        role = con.users.verify(name, password)
        if role is None:
            con.sessions.failed(keys)
            return again(_("wrong name or password."), 401)
        tok, _s = con.sessions.create(name, role)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, tok, httponly=True, samesite="strict", secure=secure_cookies,
                        path="/")
        resp.delete_cookie(LOGIN_COOKIE, path="/login")
        return secure(resp)

    async def logout(request: Request) -> Response:
        s = session(request)
        form = await request.form(max_files=0, max_fields=5)
        if s is not None and csrf_ok(s, str(form.get("csrf") or "")):
            con.sessions.drop(request.cookies.get(COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return secure(resp)

    # ---- 总览 ------------------------------------------------------------------------------
    @view
    async def overview(request: Request, s: Session) -> Response:
        st = read_status(con.site.run_dir)
        return page(request, "overview.html", s, st=st)

    @view
    async def api_status(request: Request, s: Session) -> Response:
        return secure(JSONResponse(read_status(con.site.run_dir)))

    @view
    async def frame(request: Request, s: Session) -> Response:
        sid = request.path_params["screen"]
        if _id(sid) is None:
            return secure(PlainTextResponse("", status_code=404))
        p = frame_of(con.site.run_dir, sid)
        if p is None:
            return secure(PlainTextResponse("", status_code=404))
        kind = "image/jpeg" if p.suffix == ".jpg" else "image/png"
        return secure(Response(p.read_bytes(), media_type=kind))

    # ---- 节目单 ----------------------------------------------------------------------------
    @view
    async def playlists(request: Request, s: Session) -> Response:
        site = con.site
        rows = []
        for p in sorted(site.playlists.glob("*.toml")):
            pc = changes.parsed(site, p.stem)
            rows.append({"id": p.stem, "name": pc.name if pc else "?",
                         "anti_fraud": bool(pc and pc.anti_fraud),
                         "items": len(pc.items) if pc else 0})
        return page(request, "playlists.html", s, rows=rows, problems=None, applied=None)

    @view
    async def playlist(request: Request, s: Session) -> Response:
        pid = _id(request.path_params["pid"])
        site = con.site
        if pid is None or not changes.playlist_file(site, pid).is_file():
            return page(request, "error.html", s, 404, message=_("no such playlist"))
        text = changes.playlist_file(site, pid).read_text("utf-8", "replace")
        return _playlist_page(request, s, pid, text)

    def _playlist_page(request: Request, s: Session, pid: str, text: str, *,
                       problems: list[Any] | None = None, applied: str = "",
                       item: dict[str, str] | None = None,
                       item_problems: dict[str, list[str]] | None = None,
                       status: int = 200) -> Response:
        pc = changes.parsed(con.site, pid)
        return page(request, "playlist.html", s, status, pid=pid, text=text, pc=pc,
                    problems=problems, applied=applied, item=item or {},
                    item_problems=item_problems or {},
                    uploads=reports.media_files(con.site.media))

    @change
    async def playlist_save(request: Request, s: Session, form: Any) -> Response:
        pid = _id(request.path_params["pid"])
        if pid is None:
            return page(request, "error.html", s, 404, message=_("no such playlist"))
        up = form.get("file")
        if isinstance(up, UploadFile) and up.filename:
            raw = await up.read(changes.MAX_PLAYLIST_BYTES + 1)
            text = raw.decode("utf-8", "replace")
        else:
            text = str(form.get("text") or "").replace("\r\n", "\n")
        problems = await run_in_threadpool(changes.apply, con.site, pid, text, s.user, s.role)
        return _playlist_page(request, s, pid, text, problems=problems,
                              applied=await _taken_up(pid, text, problems),
                              status=422 if problems else 200)

    async def _taken_up(pid: str, text: str, problems: list[Any]) -> str:
        if problems:
            return ""
        return str(await run_in_threadpool(changes.wait_for_reload, con.site, pid, text))

    @change
    async def playlist_add(request: Request, s: Session, form: Any) -> Response:
        pid = _id(request.path_params["pid"])
        site = con.site
        if pid is None or not changes.playlist_file(site, pid).is_file():
            return page(request, "error.html", s, 404, message=_("no such playlist"))
        current = changes.playlist_file(site, pid).read_text("utf-8", "replace")
        item: dict[str, str] = {k: str(form.get(k) or "").strip() for k in ITEM_FIELDS}
        typed: dict[str, object] = {}
        errs: dict[str, list[str]] = {}
        for k, v in item.items():
            if k in ("duration_s", "weight") and v:
                try:
                    typed[k] = float(v)
                except ValueError:
                    errs.setdefault(k, []).append(_("a number of seconds, e.g. 8"))
            else:
                typed[k] = v
        if errs:
            return _playlist_page(request, s, pid, current, item=item, item_problems=errs,
                                  status=422)
        pc = changes.parsed(site, pid)
        n = len(pc.items) if pc is not None else 0
        text = changes.add_item_text(current, typed)
        problems = await run_in_threadpool(changes.apply, site, pid, text, s.user, s.role)
        for p in problems:
            m = re.fullmatch(rf"items\[{n}\]\.?(\w*)", p.field)
            errs.setdefault(m.group(1) or "id" if m else "", []).append(
                p.message if m else str(p))
        return _playlist_page(request, s, pid, current if problems else text,
                              applied=await _taken_up(pid, text, problems),
                              item=item if problems else {},
                              item_problems=errs, status=422 if problems else 200)

    @change
    async def playlist_new(request: Request, s: Session, form: Any) -> Response:
        pid = _id(str(form.get("pid") or ""))
        if pid is None:
            return page(request, "error.html", s, 422, message=_(
                "a playlist id: 1-64 letters, digits, '-', '_', '.'"))
        up = form.get("file")
        if not isinstance(up, UploadFile) or not up.filename:
            return page(request, "error.html", s, 422, message=_("choose a TOML file"))
        text = (await up.read(changes.MAX_PLAYLIST_BYTES + 1)).decode("utf-8", "replace")
        problems = await run_in_threadpool(changes.apply, con.site, pid, text, s.user, s.role)
        return _playlist_page(request, s, pid, text, problems=problems,
                              applied=await _taken_up(pid, text, problems),
                              status=422 if problems else 200)

    # ---- 素材 ------------------------------------------------------------------------------
    @view
    async def media_page(request: Request, s: Session) -> Response:
        return page(request, "media.html", s, files=reports.media_files(con.site.media),
                    checked=None, previews=None, stored=None)

    @change
    async def media_upload(request: Request, s: Session, form: Any) -> Response:
        up = form.get("file")
        if not isinstance(up, UploadFile) or not up.filename:
            return page(request, "error.html", s, 422, message=_("choose a file"))
        data = await up.read(con.upload_max + 1)
        chk = await run_in_threadpool(media.check_upload, data, up.filename, con.upload_max)
        files = reports.media_files(con.site.media)
        if not chk.ok:
            return page(request, "media.html", s, 422, files=files, checked=chk,
                        previews=None, stored=None, name=up.filename)
        rel = media.stored_name(up.filename, data, chk.ext)
        media.store(con.site.media, rel, data)
        pv: dict[str, str] = {}
        try:
            from ..load import load_site

            loaded = await run_in_threadpool(load_site, con.config)
            work = con.dir / "previews" / Path(rel).stem
            shutil.rmtree(work, ignore_errors=True)
            shots = await run_in_threadpool(media.previews, loaded, chk.first_frame, work)
            for sid, png in shots.items():
                (work / f"{sid}.png").write_bytes(png)
                pv[sid] = f"/media/preview/{Path(rel).stem}/{sid}.png"
        except InputError:
            pass
        return page(request, "media.html", s, files=reports.media_files(con.site.media),
                    checked=chk, previews=pv, stored=rel, name=up.filename)

    @view
    async def media_preview(request: Request, s: Session) -> Response:
        stem, sid = request.path_params["stem"], request.path_params["screen"]
        ok = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}")
        if not ok.fullmatch(stem) or not ok.fullmatch(sid):
            return secure(PlainTextResponse("", status_code=404))
        p = con.dir / "previews" / stem / f"{sid}.png"
        if not p.is_file():
            return secure(PlainTextResponse("", status_code=404))
        return secure(Response(p.read_bytes(), media_type="image/png"))

    # ---- 报告 ------------------------------------------------------------------------------
    @view
    async def reports_page(request: Request, s: Session) -> Response:
        return page(request, "reports.html", s, runs=reports.runs(con.dir),
                    logs=reports.log_files(con.config), photos=reports.photos(con.dir),
                    result=None, photo_problems=None)

    async def reports_run(request: Request, s: Session) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        if not csrf_ok(s, str(form.get("csrf") or "")):
            return page(request, "error.html", s, 403, message=_(
                "the form is out of date or forged (CSRF token missing or wrong); nothing was "
                "changed. Reload the page and try again."))
        res = await run_in_threadpool(reports.run_reports, con.config, con.dir,
                                      str(form.get("from") or ""), str(form.get("to") or ""))
        return page(request, "reports.html", s, runs=reports.runs(con.dir),
                    logs=reports.log_files(con.config), photos=reports.photos(con.dir),
                    result=res, photo_problems=None)

    @view
    async def reports_run_view(request: Request, s: Session) -> Response:
        return await reports_run(request, s)  # inspectors may run the audit: it changes nothing

    @view
    async def report_file(request: Request, s: Session) -> Response:
        rid, name = request.path_params["rid"], request.path_params["name"]
        p = reports.run_file(con.dir, rid, name)
        if p is None:
            return secure(PlainTextResponse("", status_code=404))
        inline = request.query_params.get("view") == "1" and name.endswith(".html")
        resp = FileResponse(p, filename=None if inline else f"{rid}-{name}",
                            content_disposition_type="inline" if inline else "attachment")
        return secure(resp, REPORT_CSP)

    @view
    async def log_file(request: Request, s: Session) -> Response:
        p = reports.log_file(con.config, request.path_params["name"])
        if p is None:
            return secure(PlainTextResponse("", status_code=404))
        return secure(FileResponse(p, filename=p.name), REPORT_CSP)

    @change
    async def photo_upload(request: Request, s: Session, form: Any) -> Response:
        up = form.get("file")
        probs: list[str] = []
        if not isinstance(up, UploadFile) or not up.filename:
            probs = [_("choose a file")]
        else:
            data = await up.read(con.upload_max + 1)
            chk = await run_in_threadpool(media.check_upload, data, up.filename,
                                          con.upload_max)
            if chk.ok and chk.kind != "image":
                probs = [_("a site photo must be an image")]
            elif not chk.ok:
                probs = chk.problems
            else:
                reports.store_photo(con.dir, up.filename, data, chk.ext,
                                    str(form.get("caption") or "")[:100], s.user)
        return page(request, "reports.html", s, 422 if probs else 200,
                    runs=reports.runs(con.dir), logs=reports.log_files(con.config),
                    photos=reports.photos(con.dir), result=None, photo_problems=probs)

    @view
    async def photo_file(request: Request, s: Session) -> Response:
        p = reports.photo_file(con.dir, request.path_params["name"])
        if p is None:
            return secure(PlainTextResponse("", status_code=404))
        return secure(FileResponse(p))

    # ---- 账户 ------------------------------------------------------------------------------
    @view
    async def accounts(request: Request, s: Session) -> Response:
        return page(request, "accounts.html", s, users=con.users.list(), problem=None,
                    done=None)

    @change
    async def accounts_set(request: Request, s: Session, form: Any) -> Response:
        name = str(form.get("user") or "").strip()
        role = str(form.get("role") or "")
        pw = str(form.get("password") or "")
        problem = None
        if form.get("remove"):
            if name == s.user:
                problem = _("you cannot remove your own account")
            elif not con.users.remove(name):
                problem = _("no such account")
            else:
                con.sessions.drop_user(name)
        else:
            try:
                con.users.set(name, pw, role)
                con.sessions.drop_user(name)
            except ValueError as exc:
                problem = {"name": _("a name: 1-32 letters, digits, '.', '@', '-', '_'"),
                           "role": _("a role: administrator or inspector"),
                           "password": _("a password of at least 8 characters")}[str(exc)]
        return page(request, "accounts.html", s, 422 if problem else 200,
                    users=con.users.list(), problem=problem, done=None if problem else name)

    static = Path(__file__).with_name("static")
    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview),
        Route("/api/status", api_status),
        Route("/frame/{screen}.png", frame),
        Route("/playlists", playlists),
        Route("/playlists/new", playlist_new, methods=["POST"]),
        Route("/playlists/{pid}", playlist, methods=["GET"]),
        Route("/playlists/{pid}", playlist_save, methods=["POST"]),
        Route("/playlists/{pid}/add", playlist_add, methods=["POST"]),
        Route("/media", media_page),
        Route("/media/upload", media_upload, methods=["POST"]),
        Route("/media/preview/{stem}/{screen}.png", media_preview),
        Route("/reports", reports_page),
        Route("/reports/run", reports_run_view, methods=["POST"]),
        Route("/reports/photo", photo_upload, methods=["POST"]),
        Route("/reports/photos/{name}", photo_file),
        Route("/reports/{rid}/{name}", report_file),
        Route("/logs/{name}", log_file),
        Route("/accounts", accounts),
        Route("/accounts", accounts_set, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = con
    return app


__all__ = ["ROLES", "make_app"]
