"""The run directory's tables as Polars schemas, derived from the Arrow ones in `engine.rundir`
so each table is spelled once."""
from __future__ import annotations

import polars as pl
import pyarrow as pa


def polars_schema(arrow: pa.Schema) -> pl.Schema:
    return pl.from_arrow(arrow.empty_table()).schema
