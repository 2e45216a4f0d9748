"""Errors that decide what happens to a job: retried, failed for good, or set aside."""


class PipelineError(Exception):
    """Base of the pipeline's own errors."""


class ConfigurationError(PipelineError):
    """The app settings describe a pipeline that cannot run; startup stops with this message."""


class InvalidMessage(PipelineError):
    """A queue message that no retry can fix: it is recorded with this reason and set aside."""


class InputRejected(PipelineError):
    """The job's input cannot be processed (e.g. not a decodable image): the job fails with this reason.

    Raised by steps for permanent, input-specific problems. Anything else a step raises is treated as
    transient and retried by the queue until its dequeue limit.
    """


class MessageTooLarge(PipelineError):
    """The message does not fit in a queue message even after every result moved to a claim check."""


class VisionServiceUnavailable(PipelineError):
    """A vision service stayed throttled, failing or unreachable through every retry of one call.

    Transient: the queue retries the message later. Never a reason to fail the job for good.
    """


class StorageUnavailable(PipelineError):
    """The storage account cannot be reached (an operator command says so at once, in one line)."""


class DatabaseUnavailable(PipelineError):
    """The SQL database cannot be reached (an operator command says so at once, in one line)."""


class UnknownSubject(PipelineError, LookupError):
    """A request names a face, person or image that does not exist (HTTP 404)."""


class DecisionRefused(PipelineError, ValueError):
    """A decision that would contradict what must hold, e.g. two faces of one photo as one person (HTTP 409)."""
