"""Places of the demo: the 34 provinces and their communes (read from the migrated tables),
which pre-2025 province each commune belonged to, regions and display names."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.network.models import Commune, Province

# Pre-2025 provinces: 2004 code -> (name, first commune code in the GSO list, province since 2025).
# Commune codes are numbered province by province, so a commune belonged to the old member
# province whose first code is the greatest one not above its own.
OLD_PROVINCES: dict[int, tuple[str, int, int]] = {
    1: ("thành phố Hà Nội", 1, 1), 2: ("tỉnh Hà Giang", 688, 8), 4: ("tỉnh Cao Bằng", 1273, 4),
    6: ("tỉnh Bắc Kạn", 1834, 19), 8: ("tỉnh Tuyên Quang", 2197, 8), 10: ("tỉnh Lào Cai", 2629, 15),
    11: ("tỉnh Điện Biên", 3121, 11), 12: ("tỉnh Lai Châu", 3382, 12), 14: ("tỉnh Sơn La", 3646, 14),
    15: ("tỉnh Yên Bái", 4243, 15), 17: ("tỉnh Hòa Bình", 4639, 25), 19: ("tỉnh Thái Nguyên", 5431, 19),
    20: ("tỉnh Lạng Sơn", 5962, 20), 22: ("tỉnh Quảng Ninh", 6640, 22), 24: ("tỉnh Bắc Giang", 7204, 24),
    25: ("tỉnh Phú Thọ", 7882, 25), 26: ("tỉnh Vĩnh Phúc", 8863, 25), 27: ("tỉnh Bắc Ninh", 9169, 24),
    30: ("tỉnh Hải Dương", 10507, 31), 31: ("thành phố Hải Phòng", 11290, 31), 33: ("tỉnh Hưng Yên", 11743, 33),
    34: ("tỉnh Thái Bình", 12034, 33), 35: ("tỉnh Hà Nam", 13285, 37), 36: ("tỉnh Nam Định", 13465, 37),
    37: ("tỉnh Ninh Bình", 14359, 37), 38: ("tỉnh Thanh Hóa", 14755, 38), 40: ("tỉnh Nghệ An", 16681, 40),
    42: ("tỉnh Hà Tĩnh", 18070, 42), 44: ("tỉnh Quảng Bình", 18853, 44), 45: ("tỉnh Quảng Trị", 19183, 44),
    46: ("tỉnh Thừa Thiên Huế", 19474, 46), 48: ("thành phố Đà Nẵng", 20194, 48),
    49: ("tỉnh Quảng Nam", 20285, 48), 51: ("tỉnh Quảng Ngãi", 21025, 51), 52: ("tỉnh Bình Định", 21550, 52),
    54: ("tỉnh Phú Yên", 22015, 66), 56: ("tỉnh Khánh Hòa", 22327, 56), 58: ("tỉnh Ninh Thuận", 22732, 56),
    60: ("tỉnh Bình Thuận", 22915, 68), 62: ("tỉnh Kon Tum", 23281, 51), 64: ("tỉnh Gia Lai", 23563, 52),
    66: ("tỉnh Đắk Lắk", 24121, 66), 67: ("tỉnh Đắk Nông", 24610, 68), 68: ("tỉnh Lâm Đồng", 24778, 68),
    70: ("tỉnh Bình Phước", 25450, 75), 72: ("tỉnh Tây Ninh", 25630, 80), 74: ("tỉnh Bình Dương", 25741, 79),
    75: ("tỉnh Đồng Nai", 25993, 75), 77: ("tỉnh Bà Rịa - Vũng Tàu", 26506, 79),
    79: ("thành phố Hồ Chí Minh", 26734, 79), 80: ("tỉnh Long An", 27685, 80), 82: ("tỉnh Tiền Giang", 28201, 82),
    83: ("tỉnh Bến Tre", 28570, 86), 84: ("tỉnh Trà Vinh", 28891, 86), 86: ("tỉnh Vĩnh Long", 29239, 86),
    87: ("tỉnh Đồng Tháp", 29491, 82), 89: ("tỉnh An Giang", 30280, 91), 91: ("tỉnh Kiên Giang", 30577, 91),
    92: ("thành phố Cần Thơ", 31117, 92), 93: ("tỉnh Hậu Giang", 31321, 92), 94: ("tỉnh Sóc Trăng", 31471, 92),
    95: ("tỉnh Bạc Liêu", 31825, 96), 96: ("tỉnh Cà Mau", 32002, 96),
}
NORTH = frozenset({1, 4, 8, 11, 12, 14, 15, 19, 20, 22, 24, 25, 31, 33, 37})
CENTRAL = frozenset({38, 40, 42, 44, 46, 48, 51})


def region_of(province: int) -> str:
    """north, central or south (the Central Highlands and south-central coast look south)."""
    return "north" if province in NORTH else "central" if province in CENTRAL else "south"


def strip_prefix(name: str, division_type: str) -> str:
    """'Xã Thượng Lâm' -> 'Thượng Lâm'; 'Thành phố Hà Nội' -> 'Hà Nội' (spaces collapsed)."""
    words = name.split()
    n = len(division_type.split())
    if " ".join(words[:n]).lower() == division_type.lower():
        words = words[n:]
    elif words and words[0].lower() == "thành" and division_type.startswith("thành phố"):
        words = words[2:]
    return " ".join(words)


@dataclass(frozen=True)
class Place:
    code: int
    name: str  # without its prefix
    division_type: str  # xã, phường, đặc khu
    province: int
    old_province: int


@dataclass
class ProvinceInfo:
    code: int
    name: str  # without its prefix, e.g. "Hà Nội"
    full_name: str  # e.g. "Thành phố Hà Nội"
    is_city: bool
    codename: str
    old_codes: tuple[int, ...]
    communes: list[Place] = field(default_factory=list)

    @property
    def issuer_code(self) -> str:
        """The licence-issuer abbreviation of the provincial health department (2-4 letters)."""
        initials = "".join(part[0] for part in self.codename.split("_")).upper()
        return initials if len(initials) >= 2 else self.codename[:3].upper()

    @property
    def department(self) -> str:
        return f"Sở Y tế {self.full_name}" if self.is_city else f"Sở Y tế tỉnh {self.name}"


def old_province_of(commune_code: int, old_codes: tuple[int, ...]) -> int:
    firsts = [OLD_PROVINCES[c][1] for c in old_codes]  # old_codes sorted: firsts ascending
    return old_codes[max(0, bisect.bisect_right(firsts, commune_code) - 1)]


async def load_provinces(session: AsyncSession) -> dict[int, ProvinceInfo]:
    """The migrated provinces and communes, each commune with its pre-2025 province."""
    members: dict[int, list[int]] = {}
    for old, (_name, _first, new) in sorted(OLD_PROVINCES.items()):
        members.setdefault(new, []).append(old)
    provinces: dict[int, ProvinceInfo] = {}
    for p in (await session.scalars(select(Province).order_by(Province.code))).all():
        provinces[p.code] = ProvinceInfo(
            p.code, strip_prefix(p.name, p.division_type), p.name, p.division_type.startswith("thành phố"),
            p.codename, tuple(members.get(p.code, [p.code])),
        )
    rows = (await session.execute(
        select(Commune.code, Commune.name, Commune.division_type, Commune.province_code).order_by(Commune.code)
    )).all()
    for code, name, division_type, province in rows:
        info = provinces[province]
        info.communes.append(Place(code, strip_prefix(name, division_type), division_type, province,
                                   old_province_of(code, info.old_codes)))
    return provinces


def hamlet(rng: random.Random, place: Place) -> str:
    """A village or street line: 'Ấp 3' in the south, 'Thôn 3', 'Xóm 3' or 'Bản 3' elsewhere."""
    if place.division_type == "phường":
        return f"Tổ dân phố {rng.randrange(1, 30)}"
    if region_of(place.province) == "south":
        return f"Ấp {rng.randrange(1, 15)}"
    return f"{rng.choice(('Thôn', 'Xóm', 'Bản'))} {rng.randrange(1, 15)}"


def legacy_address(place: Place, unit: str) -> str:
    """The pre-2025 wording, e.g. 'huyện Anh Sơn, tỉnh Nghệ An' (unit: xã, phường, huyện)."""
    return f"{unit} {place.name}, {OLD_PROVINCES[place.old_province][0]}"
