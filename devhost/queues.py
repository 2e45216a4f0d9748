"""Queue trigger listener with the real host's polling, batching, retry and poison semantics.

What it reproduces (host.json ``extensions.queues``, see :class:`devhost.settings.QueueOptions`):

* Empty queue → exponential back-off from 100 ms up to ``maxPollingInterval``; any message
  resets to fast polling.
* Up to ``batchSize`` messages are received at once, but never more than there are idle worker
  threads (the real host prefetches a full batch; :meth:`QueueListener._run` says why we do not). A new
  batch is fetched once in-flight work drops to ``newBatchThreshold``.
* A received message is hidden for a lease (``message_lease``, default :data:`DEFAULT_MESSAGE_LEASE`)
  renewed at half its length while the invocation runs, as the real host renews its 10-minute lease.
  A host killed mid-invocation leaves its messages hidden until the lease runs out; then they are
  delivered again.
* Bodies are base64-decoded (``messageEncoding: base64``). A body that is not base64 fails the
  attempt without invoking the function, exactly like an exception would.
* Success deletes the message. Failure makes it visible again after ``visibilityTimeout``; the
  attempt that reaches ``maxDequeueCount`` instead copies the original body text to
  ``<queue>-poison`` and deletes it. A received message already above ``maxDequeueCount`` goes
  straight to poison.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import math
import re
import threading
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from devhost.indexing import FunctionSpec, HostStartupError
from devhost.pool import InvocationPool
from devhost.settings import QueueOptions

logger = logging.getLogger("devhost")

MIN_POLLING_INTERVAL = 0.1
# The real host hides a message for 10 minutes and renews that lease while the function runs. Locally a
# short lease (renewed the same way) lets the messages of a killed host come back in seconds, not minutes.
DEFAULT_MESSAGE_LEASE = 30.0
MIN_MESSAGE_LEASE = 2.0
_QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def ensure_queue(queue: QueueClient) -> None:
    """Create the queue unless it exists (the real host creates trigger and poison queues)."""
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()


MessageHandler = Callable[[FunctionQueueMessage], None]


class QueueListener:
    """Polls one queue on its own thread and runs each message's handler on the shared pool.

    :meth:`for_function` serves a queue trigger; the host's internal blob-trigger queue
    (:mod:`devhost.blob_extension`) is served with its own handler and poison queue.
    """

    def __init__(
        self,
        name: str,
        queue_name: str,
        handler: MessageHandler,
        service: QueueServiceClient,
        options: QueueOptions,
        pool: InvocationPool,
        message_lease: float = DEFAULT_MESSAGE_LEASE,
        *,
        poison_queue_name: str | None = None,
    ) -> None:
        if message_lease < MIN_MESSAGE_LEASE:
            raise HostStartupError(
                f"message lease must be at least {MIN_MESSAGE_LEASE} s, got {message_lease}"
            )
        if not _QUEUE_NAME.fullmatch(queue_name) or "--" in queue_name:
            raise HostStartupError(
                f"Function '{name}': '{queue_name}' is not a valid queue name "
                "(3-63 lowercase letters, digits and single dashes)"
            )
        self._lease = message_lease
        self.name = name
        self.queue_name = queue_name
        self._handler = handler
        self._queue = service.get_queue_client(queue_name)
        self._poison = service.get_queue_client(poison_queue_name or f"{queue_name}-poison")
        self._options = options
        self._pool = pool
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._capacity = threading.Condition()
        self._in_flight = 0
        self._thread = threading.Thread(target=self._run, name=f"devhost-queue-{name}", daemon=True)

    @classmethod
    def for_function(
        cls,
        spec: FunctionSpec,
        service: QueueServiceClient,
        options: QueueOptions,
        pool: InvocationPool,
        message_lease: float = DEFAULT_MESSAGE_LEASE,
    ) -> QueueListener:
        queue_name: str = spec.binding.get("queueName") or ""

        def invoke(trigger: FunctionQueueMessage) -> None:
            spec.invoke(trigger, reason=f"New queue message detected on '{queue_name}'.")

        return cls(spec.name, queue_name, invoke, service, options, pool, message_lease)

    def notify(self) -> None:
        """A message was just added: poll now instead of after the back-off (the real host's queue watcher)."""
        self._wake.set()

    def start(self) -> None:
        ensure_queue(self._queue)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop polling; messages received but not yet started are released by their tasks."""
        self._stopping.set()
        self._wake.set()
        with self._capacity:
            self._capacity.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- polling thread ----------------------------------------------------------------------

    def _run(self) -> None:
        delay = MIN_POLLING_INTERVAL
        while self._wait_for_capacity():
            # Receive only what can start now: a message received but waiting for a thread counts a
            # delivery each time a host is killed, and five kills would poison it without it ever running.
            wanted = min(self._options.batch_size, self._pool.idle_threads())
            if wanted == 0:
                self._stopping.wait(MIN_POLLING_INTERVAL)
                continue
            messages = self._receive_batch(wanted)
            if not messages:
                if self._wake.wait(delay):
                    self._wake.clear()
                    delay = MIN_POLLING_INTERVAL
                    continue
                delay = min(delay * 2, self._options.max_polling_interval)
                continue
            delay = MIN_POLLING_INTERVAL
            for message in messages:
                self._dispatch(message)

    def _wait_for_capacity(self) -> bool:
        """Block until in-flight work is at most newBatchThreshold; ``False`` once stopping."""
        with self._capacity:
            self._capacity.wait_for(
                lambda: self._stopping.is_set() or self._in_flight <= self._options.new_batch_threshold
            )
        return not self._stopping.is_set()

    def _receive_batch(self, size: int) -> list[QueueMessage]:
        try:
            return list(
                self._queue.receive_messages(
                    messages_per_page=size,
                    max_messages=size,
                    visibility_timeout=math.ceil(self._lease),
                )
            )
        except AzureError as exc:
            logger.warning("Polling queue '%s' failed: %s", self.queue_name, exc)
            return []

    def _dispatch(self, message: QueueMessage) -> None:
        if message.dequeue_count is not None and message.dequeue_count > self._options.max_dequeue_count:
            self._guarded(self._move_to_poison, message)
            return
        with self._capacity:
            self._in_flight += 1
        self._pool.submit(self._process, message)

    # -- pool threads ------------------------------------------------------------------------

    def _process(self, message: QueueMessage) -> None:
        try:
            if self._stopping.is_set():
                self._guarded(self._make_visible, message, 0)
                return
            self._guarded(self._attempt, message)
        finally:
            with self._capacity:
                self._in_flight -= 1
                self._capacity.notify_all()

    def _attempt(self, message: QueueMessage) -> None:
        try:
            body = self._decode(message.content)
        except ValueError:
            logger.error(
                "Function '%s': message %s on queue '%s' is not valid base64; failing the attempt without "
                "invoking the function (dequeue count %s)",
                self.name,
                message.id,
                self.queue_name,
                message.dequeue_count,
            )
            self._failed(message)
            return
        trigger = FunctionQueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            with _LeaseRenewal(self._queue, message, self._lease):
                self._handler(trigger)
        except Exception:
            logger.exception(
                "Function '%s' failed for message %s on queue '%s' (dequeue count %s)",
                self.name,
                message.id,
                self.queue_name,
                message.dequeue_count,
            )
            self._failed(message)
            return
        self._queue.delete_message(message.id, message.pop_receipt)

    def _decode(self, content: str | None) -> bytes:
        text = content or ""
        if self._options.message_encoding == "none":
            return text.encode("utf-8")
        try:
            # .NET's Convert.FromBase64String, which the real host uses, ignores whitespace.
            return base64.b64decode("".join(text.split()), validate=True)
        except binascii.Error as exc:
            raise ValueError(str(exc)) from exc

    def _failed(self, message: QueueMessage) -> None:
        if (message.dequeue_count or 0) >= self._options.max_dequeue_count:
            self._move_to_poison(message)
        else:
            self._make_visible(message, math.ceil(self._options.visibility_timeout))

    def _make_visible(self, message: QueueMessage, after_seconds: int) -> None:
        self._queue.update_message(message.id, message.pop_receipt, visibility_timeout=after_seconds)

    def _move_to_poison(self, message: QueueMessage) -> None:
        logger.warning(
            "Message %s has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            message.id,
            self._options.max_dequeue_count,
            self._poison.queue_name,
        )
        ensure_queue(self._poison)
        self._poison.send_message(message.content)
        self._queue.delete_message(message.id, message.pop_receipt)

    def _guarded(self, action: Callable[..., None], *args: Any) -> None:
        """Run a storage operation; a storage failure is logged, never fatal to the host.

        A failed delete/update leaves the message invisible until its processing timeout runs
        out, after which it is received again — the same outcome as on the real host.
        """
        try:
            action(*args)
        except AzureError as exc:
            logger.warning("Function '%s': queue '%s' operation failed: %s", self.name, self.queue_name, exc)


class _LeaseRenewal:
    """Keeps a message hidden while its invocation runs, renewing the lease at half its length.

    Renewing changes the pop receipt, so ``message.pop_receipt`` is updated in place: the delete or
    update that ends the attempt must use the latest receipt.
    """

    def __init__(self, queue: QueueClient, message: QueueMessage, lease: float) -> None:
        self._queue = queue
        self._message = message
        self._lease = lease
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"devhost-lease-{message.id}", daemon=True)

    def __enter__(self) -> _LeaseRenewal:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:  # no renewal may race the caller's delete with a stale receipt
            self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._lease / 2):
            with self._lock:
                if self._done.is_set():
                    return
                try:
                    renewed = self._queue.update_message(
                        self._message.id, self._message.pop_receipt, visibility_timeout=math.ceil(self._lease)
                    )
                except AzureError as exc:
                    # The message may be delivered again after the lease: at-least-once, never lost.
                    logger.warning("Could not renew the lease of message %s: %s", self._message.id, exc)
                    continue
                self._message.pop_receipt = renewed.pop_receipt
