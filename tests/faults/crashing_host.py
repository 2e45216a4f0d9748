"""``python -m tests.faults.crashing_host``: the local host that SIGKILLs itself at a chosen point.

Killing the host from outside lands at random points; this wrapper adds the point that matters most
for exactly-once outcomes: after a step has written its side effects (blobs, SQL, the match index) and
before its job is forwarded to the next queue. With probability ``FAULT_KILL_BEFORE_FORWARD`` each
forward of a job (to a step queue, not a poison queue) kills the process first, as a power cut would.
Everything else is the unchanged ``python -m devhost``.
"""

from __future__ import annotations

import os
import random
import signal
import sys

from devhost.__main__ import main
from pipeline.routing import POISON_SUFFIX
from pipeline.storage import Storage

KILL_PROBABILITY = "FAULT_KILL_BEFORE_FORWARD"


def _install(probability: float, rng: random.Random) -> None:
    send = Storage.send

    def send_or_die(self: Storage, queue: str, text: str) -> None:
        if not queue.endswith(POISON_SUFFIX) and rng.random() < probability:
            print(f"crashing_host: SIGKILL before forwarding to {queue}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        send(self, queue, text)

    Storage.send = send_or_die  # type: ignore[method-assign]


if __name__ == "__main__":
    _install(float(os.environ.get(KILL_PROBABILITY, "0")), random.Random(os.environ.get("FAULT_SEED")))
    sys.exit(main())
