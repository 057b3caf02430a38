"""A GCS server for tests: gcp-storage-emulator in-process, in memory, on a free loopback port.

The emulator lacks the JSON API's ``objects.move`` (``.../o/SRC/moveTo/o/DEST``), which gcsfs
2026.10 calls first on ``mv``: it answers 501, which gcsfs retries with back-off for ~30 s
before falling back to copy and delete. :func:`running_gcs` adds that route (copy, then delete
the source, as GCS does atomically) to the emulator's table of this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

from adlake_tests.servers._process import free_port

PROJECT = "adlake-test"
_MOVE_ROUTE = (
    r"^/storage/v1/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)/moveTo/o/"
    r"(?P<dest_object_id>.*[^/]+)$"
)


@dataclass(frozen=True)
class GcsServer:
    """Where the emulator answers (the JSON API under ``endpoint_url``) and its project."""

    endpoint_url: str
    project: str


def _move(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
    """``objects.move`` within one bucket: the moved object's resource, or 404."""
    bucket = request.params["bucket_name"]
    try:
        moved = objects._copy(
            request.base_url,
            storage,
            bucket,
            request.params["object_id"],
            bucket,
            request.params["dest_object_id"],
        )
        storage.delete_file(bucket, request.params["object_id"])
    except NotFound:
        response.status = HTTPStatus.NOT_FOUND
        return
    response.json(moved)


@contextmanager
def running_gcs() -> Iterator[GcsServer]:
    """The emulator for the duration of the block; its objects live in memory only."""
    # it logs every request at INFO
    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    if emulator.HANDLERS[0][0] != _MOVE_ROUTE:
        emulator.HANDLERS = ((_MOVE_ROUTE, {emulator.POST: _move}), *emulator.HANDLERS)
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        yield GcsServer(endpoint_url=f"http://127.0.0.1:{port}", project=PROJECT)
    finally:
        server.stop()
