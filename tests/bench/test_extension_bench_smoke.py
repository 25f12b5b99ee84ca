"""Keeps bench/extension_types.py from rotting: its PostGIS table at a tiny size, loaded both ways through
pgferry's copy path on the session's clusters; the two loads leave the same rows (no times asserted)."""
from __future__ import annotations

import pytest

from bench import extension_types

pytestmark = pytest.mark.integration

DIGEST = "SELECT count(*), sum(hashtext(ST_AsEWKB(outline)::text || area::text || tags::text)) FROM public.parcels"


def test_binary_and_text_loads_of_the_postgis_table_leave_the_same_rows(pg_source, pg_target):
    try:
        versions = extension_types.prepare(pg_source, pg_target, 300)
        assert [name for name, _ in versions] == ["hstore", "postgis"]
        source = pg_source.query(DIGEST, extension_types.DB)
        for binary in (True, False):
            _, rows, nbytes = extension_types.load(pg_source, pg_target, binary)
            assert rows == 300 and nbytes > 0
            assert pg_target.query(DIGEST, extension_types.DB) == source
    finally:
        for cluster in (pg_source, pg_target):
            cluster.execute(f'DROP DATABASE IF EXISTS "{extension_types.DB}" WITH (FORCE)')
