"""The look loop every deferrable wait of pgferry's shares: look, judge, sleep, up to a number of looks.

A look returns a verdict (anything with `done`, `failed` and `progress`, such as aws/states.Verdict or
online/lag_trigger.LagVerdict). A failed verdict ends the wait at once, a done one ends it successfully, and
running out of looks ends it with a "timeout" payload, never mistaken for a failure. A verdict with `data`
(plain measurements, such as the lag) adds them to a success or timeout payload as "data". The payload is what
a trigger puts in its TriggerEvent.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any


async def poll(look: Callable[[], Awaitable[Any]], max_looks: int, delay_s: float,
               log: logging.Logger) -> dict[str, Any]:
    verdict = None
    for attempt in range(1, max_looks + 1):
        verdict = await look()
        if verdict.failed:
            return {"status": "failed", "message": verdict.failed}
        if verdict.done:
            return _with_data({"status": "success", "message": verdict.progress}, verdict)
        log.info("%s (look %d of %d)", verdict.progress, attempt, max_looks)
        if attempt < max_looks:
            await asyncio.sleep(delay_s)
    return _with_data({"status": "timeout", "message": verdict.progress if verdict else ""}, verdict)


def _with_data(payload: dict, verdict) -> dict:
    """A verdict's measurements (its `data`, when it has any) travel with the payload of the last look."""
    data = getattr(verdict, "data", None)
    return {**payload, "data": data} if data else payload
