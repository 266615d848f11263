import gc
import socket
import time
from types import TracebackType


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CpuSeconds:
    """The CPU seconds this thread spends inside the block, in ``seconds`` once it ends: the work the code under test
    did, for the bounds that prove hostile input is refused quickly.

    Not the wall clock (other work on a loaded machine stretches it: 1.1 s once for what takes 0.16 s), not the
    process's CPU time (other threads count there), and with the cyclic garbage collector paused: a full collection
    of the whole session's heap can start inside any block and cost a second on a slow machine (CI once measured
    1.09 s around an evaluation that takes 4 ms)."""

    seconds: float

    def __enter__(self) -> "CpuSeconds":
        self._collecting = gc.isenabled()
        gc.disable()
        self._began = time.thread_time()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.seconds = time.thread_time() - self._began
        if self._collecting:
            gc.enable()
