"""What every demo builder shares: the seeded generator, identifiers, places, and the rows
waiting to be bulk-inserted."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table

from telebridge.demo.data import Hub
from telebridge.demo.people import Identifiers
from telebridge.demo.places import Place, ProvinceInfo

Row = dict[str, Any]


@dataclass
class Site:
    """A facility being built (hub or bridge point)."""

    id: uuid.UUID
    name: str
    province: int
    place: Place | None
    kind: str
    level: str
    hub: Hub | None = None
    old_province: int | None = None
    link_specialties: set[str] = field(default_factory=set)  # bridge points: what their hubs cover

    @property
    def specialties(self) -> tuple[str, ...]:
        return self.hub.specialties if self.hub else ()


@dataclass
class Context:
    rng: random.Random
    ids: Identifiers
    provinces: dict[int, ProvinceInfo]
    today: date
    now: datetime
    rows: dict[Table, list[Row]] = field(default_factory=dict)

    def add(self, table: Table, row: Row) -> None:
        self.rows.setdefault(table, []).append(row)

    def count(self, table: Table) -> int:
        return len(self.rows.get(table, ()))
