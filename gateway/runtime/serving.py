"""An in-process uvicorn server on a socket the gateway binds itself, so a busy port is a
clear error at start-up, port 0 means "any free port", and signals stay the gateway's."""

import asyncio
import contextlib
import logging
import socket

import uvicorn
from starlette.types import ASGIApp


class PortUnavailable(RuntimeError):
    pass


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # the gateway handles SIGINT and SIGTERM itself
        yield


class LoopbackServer:
    def __init__(self, *, host: str, port: int, name: str, graceful_s: float = 10.0) -> None:
        self.graceful_s = graceful_s  # how long stopping waits for requests in flight
        self.host = host
        self.port = port
        self.name = name
        self._socket: socket.socket | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bind(self) -> None:
        """Take the port now, so a busy port fails start-up before anything else has begun."""
        if self._socket is not None:
            return
        # proto=IPPROTO_TCP matters: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
        # say they are TCP; without it every answer waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise PortUnavailable(f"{self.name} cannot listen on {self.host}:{self.port}: {error.strerror}") from None
        self.port = sock.getsockname()[1]
        self._socket = sock

    async def start(self, app: ASGIApp) -> None:
        self.bind()
        # log_config=None: uvicorn's lines go through the process's handlers (and their masking).
        config = uvicorn.Config(app, log_level=logging.WARNING, access_log=False, lifespan="off", log_config=None,
                                timeout_graceful_shutdown=self.graceful_s)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name=self.name)
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise PortUnavailable(f"{self.name} stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
