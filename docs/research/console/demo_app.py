"""A tiny console-like page for the browser probe: sign-in form, a counter that moves by
server-sent events and another by polling, a button (POST with a CSRF token), a CSV download.
Not the gateway: only what the console will need from a browser, to see that it works here."""

import asyncio
import csv
import hashlib
import hmac
import io
import secrets

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

app = FastAPI()
SECRET = secrets.token_bytes(32)
USERS = {"operator": "op-pass", "viewer": "view-pass"}
STATE = {"ticks": 0, "replays": 0}

PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family: system-ui, sans-serif; margin: 2em}} .big{{font-size: 28px}}</style></head>
<body>{body}</body></html>"""


def sign(user: str) -> str:
    mac = hmac.new(SECRET, user.encode(), hashlib.sha256).hexdigest()
    return f"{user}.{mac}"


def user_of(request: Request) -> str | None:
    token = request.cookies.get("session", "")
    user, _, mac = token.rpartition(".")
    if user and hmac.compare_digest(sign(user), token):
        return user
    return None


def csrf_of(user: str) -> str:
    return hmac.new(SECRET, b"csrf:" + user.encode(), hashlib.sha256).hexdigest()[:32]


@app.on_event("startup")
async def tick() -> None:
    async def loop() -> None:
        while True:
            await asyncio.sleep(0.2)
            STATE["ticks"] += 1
    asyncio.get_running_loop().create_task(loop())


@app.get("/login", response_class=HTMLResponse)
async def login_form() -> str:
    body = """<h1>Đăng nhập — Bảng điều khiển vận hành</h1>
<form method="post" action="/login"><label>Tên đăng nhập <input name="username" id="username"></label>
<label>Mật khẩu <input type="password" name="password" id="password"></label>
<button id="sign-in" type="submit">Đăng nhập</button></form>"""
    return PAGE.format(lang="vi", title="Đăng nhập", body=body)


@app.post("/login")
async def login(username: str = Form(), password: str = Form()) -> Response:
    if not hmac.compare_digest(USERS.get(username, "\0"), password):
        return HTMLResponse("Sai tên đăng nhập hoặc mật khẩu", status_code=401)
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie("session", sign(username), httponly=True, samesite="strict", path="/")
    return response


@app.get("/console", response_class=HTMLResponse)
async def console(request: Request) -> Response:
    user = user_of(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    body = f"""<h1>Luồng dữ liệu — Cổng tích hợp tỉnh</h1>
<p>Xin chào <b id="who">{user}</b>. Hồ sơ đã tiếp nhận, đang xử lý, quá hạn; Ủy ban nhân dân
tỉnh Thừa Thiên Huế; Sở Tư pháp; Bưu điện; Đắk Lắk; Phường Ngọc Hà, Quận Ba Đình.</p>
<p class="big">SSE: <span id="sse">0</span> · Polling: <span id="poll">0</span> · Replays:
<span id="replays">{STATE['replays']}</span></p>
<form id="replay-form" method="post" action="/replay"><input type="hidden" name="csrf" value="{csrf_of(user)}">
<button id="replay" type="submit">Gửi lại (replay)</button></form>
<a id="export" href="/report.csv">Xuất báo cáo CSV</a>
<script>
const es = new EventSource('/events');
es.onmessage = (e) => {{ document.getElementById('sse').textContent = e.data; }};
setInterval(async () => {{
  const r = await fetch('/api/ticks'); const j = await r.json();
  document.getElementById('poll').textContent = j.ticks;
}}, 500);
</script>"""
    return HTMLResponse(PAGE.format(lang="vi", title="Luồng dữ liệu", body=body))


@app.get("/events")
async def events(request: Request) -> Response:
    if user_of(request) is None:
        return JSONResponse({"error": "sign in"}, status_code=401)

    async def stream():
        while not await request.is_disconnected():
            yield f"data: {STATE['ticks']}\n\n"
            await asyncio.sleep(0.25)
    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@app.get("/api/ticks")
async def ticks(request: Request) -> Response:
    if user_of(request) is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    return JSONResponse({"ticks": STATE["ticks"]})


@app.post("/replay")
async def replay(request: Request, csrf: str = Form()) -> Response:
    user = user_of(request)
    if user is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    if not hmac.compare_digest(csrf, csrf_of(user)):
        return JSONResponse({"error": "bad csrf"}, status_code=403)
    if user != "operator":
        return JSONResponse({"error": "operator role needed"}, status_code=403)
    STATE["replays"] += 1
    return RedirectResponse("/console", status_code=303)


@app.get("/report.csv")
async def report(request: Request) -> Response:
    if user_of(request) is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["thang", "cap", "co_quan", "nop_truc_tuyen", "thanh_toan_truc_tuyen", "tra_qua_buu_chinh"])
    writer.writerow(["2026-04", "tinh", "Sở Tư pháp", "0.625", "0.5", "0.125"])
    # BOM so that spreadsheet programs read UTF-8 Vietnamese correctly.
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="bao-cao-2026-04.csv"'})
