"""ECS's errors: one exception type whose `code` is the ECS exception name clients match on."""

from __future__ import annotations

# The one ECS error that is the server's fault (HTTP 500); every other one is the caller's (400).
SERVER_FAULT = "ServerException"


class EcsError(Exception):
    """`code`: ECS's exception name (ClusterNotFoundException, ClientException …); the message is
    ECS's own text where ECS has one, because users and scripts match on it."""

    def __init__(self, code: str, message: str, **fields: object):
        self.code = code
        self.message = message
        # Members of the exception shape besides `message` (ConflictException's `resourceIds`),
        # for the front ends to put in the error body.
        self.fields = fields
        super().__init__(message)

    @property
    def client_fault(self) -> bool:
        return self.code != SERVER_FAULT


def cluster_not_found() -> EcsError:
    return EcsError("ClusterNotFoundException", "Cluster not found.")


def task_definition_not_found() -> EcsError:
    return EcsError("ClientException", "Unable to describe task definition.")


def invalid_parameter(message: str) -> EcsError:
    return EcsError("InvalidParameterException", message)


def cluster_inactive() -> EcsError:
    """What ECS answers for a deleted (INACTIVE) cluster where it needs an active one."""
    return invalid_parameter("The specified cluster is inactive. Specify an active cluster and try again.")
