"""Queue & quarantine, live from mailcow (502/503 with mailcow's reason when it cannot be asked)."""

from __future__ import annotations

from fastapi import APIRouter

from mlv.api import deps
from mlv.queries import live

router = APIRouter(tags=["queue"])


@router.get("/queue", summary="Postfix's mail queue, live from mailcow")
def queue() -> dict:
    with deps.mailcow() as client:
        return live.queue(client)


@router.get("/quarantine", summary="Quarantined mail, live from mailcow")
def quarantine() -> dict:
    with deps.mailcow() as client:
        return live.quarantine(client)
