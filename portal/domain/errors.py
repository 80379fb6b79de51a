"""Errors the domain raises; views map them to HTTP (NotPermitted → 403/404, others → 409/422)."""


class DomainError(Exception):
    """A rule of the complaints code refuses the request."""


class IllegalTransition(DomainError):
    """The ticket's status does not allow this action (the transition table forbids it)."""


class NotPermitted(DomainError):
    """The actor may not do this to this ticket."""


class Conflict(DomainError):
    """Someone else changed the ticket first (a lost race); the user should look again."""
