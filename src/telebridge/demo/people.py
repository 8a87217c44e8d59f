"""Deterministic generators: unique national identifiers and realistic Vietnamese people."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from telebridge.demo.data import FAMILY_NAMES, GIVEN_FEMALE, GIVEN_MALE, MIDDLE_FEMALE, MIDDLE_MALE
from telebridge.kit.validators import PROVINCE_CODES_2004, gln_check_digit


@dataclass
class Taken:
    """Values already in the database (a second demo must not collide with the first)."""

    insurance: set[str]
    gln: set[str]
    licences: set[str]
    citizen_ids: set[str]
    usernames: set[str]


class Identifiers:
    """Hands out unique, valid identifiers from one seeded random generator."""

    def __init__(self, rng: random.Random, taken: Taken) -> None:
        self.rng = rng
        self.taken = taken
        self._insurance_pools: dict[int, list[str]] = {}
        self._gln_next = rng.randrange(10**6) * 1000
        self._licence_next = rng.randrange(1, 900_000)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def insurance(self, prefixes: tuple[int, ...]) -> str | None:
        """A free 5-digit code under the first prefix that has one left; None when all are used."""
        for prefix in prefixes:
            assert prefix in PROVINCE_CODES_2004
            pool = self._insurance_pools.get(prefix)
            if pool is None:
                pool = [f"{prefix:02d}{n:03d}" for n in range(1, 1000)]
                self.rng.shuffle(pool)
                self._insurance_pools[prefix] = pool
            while pool:
                code = pool.pop()
                if code not in self.taken.insurance:
                    self.taken.insurance.add(code)
                    return code
        return None

    def gln(self) -> str:
        while True:
            self._gln_next += 1
            body = f"893{self._gln_next:09d}"
            value = body + str(gln_check_digit(body))
            if value not in self.taken.gln:
                self.taken.gln.add(value)
                return value

    def licence(self, issuer: str, issued_on: date) -> str:
        """Practising certificates (CCHN) before the 2023 law took effect in 2024, licences (GPHN) since."""
        kind = "GPHN" if issued_on >= date(2024, 1, 1) else "CCHN"
        while True:
            self._licence_next = self._licence_next % 999_999 + 1
            value = f"{self._licence_next:06d}/{issuer}-{kind}"
            if value not in self.taken.licences:
                self.taken.licences.add(value)
                return value

    def citizen_id(self, birth_province: int, born: date, sex: str) -> str:
        """12 digits: birth province, century+sex digit, year of birth, 6 random digits."""
        digit = 2 * ((born.year - 1900) // 100) + (0 if sex == "male" else 1)
        head = f"{birth_province:03d}{digit}{born.year % 100:02d}"
        while True:
            value = head + f"{self.rng.randrange(10**6):06d}"
            if value not in self.taken.citizen_ids:
                self.taken.citizen_ids.add(value)
                return value

    def username(self, base: str) -> str:
        value, n = base, 1
        while value in self.taken.usernames:
            n += 1
            value = f"{base}{n}"
        self.taken.usernames.add(value)
        return value


_FAMILY_WEIGHTS = [w for _n, _s, w in FAMILY_NAMES]


def person_name(rng: random.Random, sex: str, region: str) -> str:
    north, south, _w = rng.choices(FAMILY_NAMES, weights=_FAMILY_WEIGHTS)[0]
    family = north if region == "north" else south
    if sex == "male":
        return f"{family} {rng.choice(MIDDLE_MALE)} {rng.choice(GIVEN_MALE)}"
    return f"{family} {rng.choice(MIDDLE_FEMALE)} {rng.choice(GIVEN_FEMALE)}"


def birth_date(rng: random.Random, today: date, min_age: int, max_age: int) -> date:
    return today - timedelta(days=rng.randrange(min_age * 365 + 1, max_age * 365 + 1))


def phone(rng: random.Random) -> str:
    return rng.choice(("09", "03", "08", "07")) + f"{rng.randrange(10**8):08d}"
