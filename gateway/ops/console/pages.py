"""The console's page and assets, shipped inside the package (no CDN: the province's machines
may have no internet). One HTML shell; the pages are drawn by console.js from the API."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# The shell is small and changes with the gateway: always asked again, never stale after an upgrade.
NO_CACHE = {"Cache-Control": "no-cache"}


def console_pages() -> tuple[APIRouter, StaticFiles]:
    router = APIRouter(include_in_schema=False)

    @router.get("/console")
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=NO_CACHE)

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/console")

    return router, StaticFiles(directory=STATIC)
