"""Host singletons: of several hosts sharing a storage account, one at a time runs a given listener.

The real host makes timer listeners (and the blob container scan) singletons with a blob lease on
``azure-webjobs-hosts/locks/<hostId>/<lockId>`` (a timer's lock id is ``Host.Functions.<name>.Listener``): the
instance holding the lease runs the listener and renews the lease; the others try again now and then. A host
that stops releases the lease; one that dies loses it when the lease runs out, and another host takes over.
:class:`SingletonListener` does the same around any listener component; it also guards the local Event Grid
(:mod:`devhost.eventgrid`), so one producer emits the events however many hosts run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient

from devhost.listener import Listener

logger = logging.getLogger("devhost")

HOSTS_CONTAINER = "azure-webjobs-hosts"
# The shortest lease storage grants (and the real host's default lock period): a dead holder's listener
# moves to another host within this time.
LEASE_SECONDS = 15
RENEW_INTERVAL = 5.0
# The real host retries a lock it could not get every minute (ListenerLockRecoveryPollingInterval);
# locally a host takes over within seconds of the lease running out.
ACQUIRE_INTERVAL = 2.0


def lock_blob(blob_service: BlobServiceClient, host_id: str, lock_id: str) -> BlobClient:
    return blob_service.get_blob_client(HOSTS_CONTAINER, f"locks/{host_id}/{lock_id}")


class SingletonListener:
    """Runs a listener made by ``factory`` only while this host holds the lock ``lock_id``.

    A fresh listener is made each time the lock is acquired, so a host that loses the lock and gets it again
    later starts from a clean state.
    """

    def __init__(
        self,
        lock_id: str,
        factory: Callable[[], Listener],
        blob_service: BlobServiceClient,
        host_id: str,
        *,
        acquire_interval: float = ACQUIRE_INTERVAL,
    ) -> None:
        self.lock_id = lock_id
        self._factory = factory
        self._container = blob_service.get_container_client(HOSTS_CONTAINER)
        self._blob = lock_blob(blob_service, host_id, lock_id)
        self._acquire_interval = acquire_interval
        self._stopping = threading.Event()
        self._stop_timeout = 10.0
        self._last_problem = ""
        self.holding = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"devhost-singleton-{lock_id}", daemon=True)
        self._first: tuple[BlobLeaseClient, Listener] | None = None

    def start(self) -> None:
        """Take the lock now if it is free, so a lone host runs the listener before it reports ready."""
        self._ensure_lock_blob()
        lease = self._try_acquire()
        if lease is not None:
            self._first = (lease, self._start_listener())
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop the listener if it runs here and release the lock, so another host takes over at once."""
        self._stop_timeout = timeout
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout + LEASE_SECONDS)

    # -- lock thread -------------------------------------------------------------------------

    def _run(self) -> None:
        if self._first is not None:
            self._hold(*self._first)
            self._first = None
        while not self._stopping.is_set():
            lease = self._try_acquire()
            if lease is None:
                self._stopping.wait(self._acquire_interval)
                continue
            self._hold(lease, self._start_listener())

    def _start_listener(self) -> Listener:
        logger.info("Singleton lock '%s' acquired: its listener runs on this host", self.lock_id)
        listener = self._factory()
        listener.start()
        self.holding.set()
        return listener

    def _hold(self, lease: BlobLeaseClient, listener: Listener) -> None:
        try:
            self._renew_until_stopped_or_lost(lease)
        finally:
            self.holding.clear()
            listener.stop(self._stop_timeout)
            with contextlib.suppress(AzureError):
                lease.release()

    def _renew_until_stopped_or_lost(self, lease: BlobLeaseClient) -> None:
        renewed_at = time.monotonic()
        while not self._stopping.wait(RENEW_INTERVAL):
            try:
                lease.renew()
                renewed_at = time.monotonic()
                continue
            except HttpResponseError as exc:
                if exc.status_code == 409:  # the lease ran out and another host holds it now
                    logger.warning("Singleton lock '%s' was lost; stopping its listener here", self.lock_id)
                    return
                problem: AzureError = exc
            except AzureError as exc:
                problem = exc
            if time.monotonic() - renewed_at >= LEASE_SECONDS - RENEW_INTERVAL:
                logger.warning(
                    "Singleton lock '%s' not renewed in time; stopping its listener here", self.lock_id
                )
                return
            logger.warning("Could not renew singleton lock '%s' (retrying): %s", self.lock_id, problem)

    def _try_acquire(self) -> BlobLeaseClient | None:
        lease = BlobLeaseClient(self._blob)
        try:
            lease.acquire(lease_duration=LEASE_SECONDS)
        except ResourceExistsError:
            return None  # another host holds it
        except ResourceNotFoundError:
            self._ensure_lock_blob()
            return None
        except AzureError as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if problem != self._last_problem:  # once per distinct problem, not every few seconds
                logger.warning("Could not acquire singleton lock '%s': %s", self.lock_id, problem)
                self._last_problem = problem
            return None
        self._last_problem = ""
        return lease

    def _ensure_lock_blob(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        with contextlib.suppress(ResourceExistsError, HttpResponseError):
            # Empty and never rewritten: it only carries the lease (a held lease refuses the upload).
            self._blob.upload_blob(b"", overwrite=False)
