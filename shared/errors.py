"""Remote error types named in the contract.

nameko sends an exception to the caller as a RemoteError whose ``exc_type``
is the class name, so these names are part of the external interface.
"""
import json


class Unauthorized(Exception):
    """No token, an unknown token, or a role that may not make the call."""


class NotFound(Exception):
    """The thing asked for does not exist."""


class Conflict(Exception):
    """The request contradicts what is already recorded."""


class ValidationError(Exception):
    """Bad arguments; ``errors`` maps each field to its messages.

    The remote value is the JSON of that mapping, so callers can parse it.
    """

    def __init__(self, errors):
        self.errors = errors
        super().__init__(json.dumps(errors, sort_keys=True, ensure_ascii=False))


EXPECTED = (Unauthorized, NotFound, Conflict, ValidationError)
