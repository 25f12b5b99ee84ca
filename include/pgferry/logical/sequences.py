"""Task `sequences`: setval on the target to each migrated sequence's value on the source.

It runs next to the copy lanes: a load never moves a sequence (COPY does not call nextval for given
values), and the write freeze keeps the source's values still.
"""
from __future__ import annotations

import logging

from include.pgferry.logical.comparison import sequence_values
from include.pgferry.logical.common import endpoints
from include.pgferry.model import Plan

log = logging.getLogger("pgferry")


def sequences(params: dict, state: dict) -> dict:
    source_ep, target_ep = endpoints(params)
    seqs = Plan.from_xcom(state["plan"]).all_sequences
    with source_ep.connect(autocommit=True) as source:
        values = sequence_values(source, seqs, target_side=False)
    with target_ep.connect() as target, target.transaction():
        for s in seqs:
            last, called = values[f"{s.source.schema}.{s.source.name}"]
            name = s.target.identifier.as_string(target)
            target.execute("SELECT setval(%s::regclass, %s, %s)", (name, last, called))
    log.info("sequences: %d set to the source's values", len(seqs))
    return {"sequences": len(seqs)}
