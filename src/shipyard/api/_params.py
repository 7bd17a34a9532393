"""Path and query parameters shared by routes, bounded as the database can take them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shipyard.api.schemas import MAX_ID, MAX_LIMIT, MAX_OFFSET

__all__ = ["Id", "Limit", "Offset"]

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a positive id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="the page's size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many to skip")]
