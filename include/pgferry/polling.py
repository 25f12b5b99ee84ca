"""The look loop every deferrable wait of pgferry's shares: look, judge, sleep, up to a number of looks.

A look returns a verdict (anything with `done`, `failed` and `progress`, such as aws/states.Verdict or
online/lag_trigger.LagVerdict). A failed verdict ends the wait at once, a done one ends it successfully, and
running out of looks ends it with a "timeout" payload, never mistaken for a failure. The payload is what a
trigger puts in its TriggerEvent.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any


async def poll(look: Callable[[], Awaitable[Any]], max_looks: int, delay_s: float,
               log: logging.Logger) -> dict[str, str]:
    verdict = None
    for attempt in range(1, max_looks + 1):
        verdict = await look()
        if verdict.failed:
            return {"status": "failed", "message": verdict.failed}
        if verdict.done:
            return {"status": "success", "message": verdict.progress}
        log.info("%s (look %d of %d)", verdict.progress, attempt, max_looks)
        if attempt < max_looks:
            await asyncio.sleep(delay_s)
    return {"status": "timeout", "message": verdict.progress if verdict else ""}
