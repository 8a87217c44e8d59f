"""The facilities of the demo: real hubs, bridge points in every province, identifiers,
addresses, hub↔spoke links and remote-care declarations."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, timedelta

from telebridge.demo.context import Context, Site
from telebridge.demo.data import ANCHORS, DEMO_GENERAL_HUB, DEMO_HUB, HUBS, STREET_NAMES, Hub
from telebridge.demo.places import Place, ProvinceInfo, hamlet, legacy_address, region_of
from telebridge.kit.validators import fold
from telebridge.network.models import (
    REFORM_DATE, DeclaredService, Facility, FacilityAddress, FacilityIdentifier, HubLink, HubLinkSpecialty,
    RemoteCareDeclaration,
)

_F, _ID, _ADDR = Facility.__table__, FacilityIdentifier.__table__, FacilityAddress.__table__
CONTRACT_TERMS = ("Bệnh viện tuyến trên hỗ trợ chuyên môn từ xa (hội chẩn, tư vấn, đào tạo); cơ sở tuyến dưới "
                  "bảo đảm đường truyền và thiết bị; dữ liệu người bệnh được chia sẻ theo đồng ý của người bệnh; "
                  "chi phí thanh toán theo quy định hiện hành.")


def _english(name: str) -> str:
    return " ".join(w.capitalize() for w in fold(name).split())


def _add_facility(ctx: Context, site: Site, *, name_en: str | None, tier: str, address: str | None,
                  beds: int | None, legacy: str | None) -> None:
    prov = ctx.provinces[site.province]
    old = site.old_province or (site.place.old_province if site.place else prov.old_codes[0])
    insurance = ctx.ids.insurance((old, *(c for c in prov.old_codes if c != old)))
    gln = ctx.ids.gln()
    commune = site.place.code if site.place else None
    ctx.add(_F, {
        "id": site.id, "name": site.name, "name_en": name_en, "search_text": fold(site.name), "kind": site.kind,
        "technical_level": site.level, "legacy_tier": tier, "insurance_code": insurance, "gln_code": gln,
        "province_code": site.province, "commune_code": commune, "address_line": address,
        "phone": "02" + f"{ctx.rng.randrange(10**9):09d}", "beds": beds, "is_active": True,
        "created_at": ctx.now, "updated_at": ctx.now,
    })
    for system, value in (("insurance", insurance), ("gln", gln)):
        if value is not None:
            ctx.add(_ID, {"id": ctx.ids.uuid(), "facility_id": site.id, "system": system, "value": value,
                          "valid_from": REFORM_DATE, "valid_to": None})
    ctx.add(_ADDR, {"id": ctx.ids.uuid(), "facility_id": site.id, "province_code": site.province,
                    "commune_code": commune, "address_line": address, "legacy_text": legacy,
                    "valid_from": REFORM_DATE, "valid_to": None})


def _hub_place(prov: ProvinceInfo, address: str) -> Place | None:
    """The commune named at the end of a hub's address ('..., phường Kim Liên')."""
    last = fold(address.split(",")[-1])
    return next((p for p in prov.communes if last.endswith(fold(p.name)) and fold(p.name)), None)


def build_hubs(ctx: Context) -> list[Site]:
    hubs = []
    for hub in HUBS:
        prov = ctx.provinces[hub.province]
        site = Site(ctx.ids.uuid(), hub.name, hub.province, _hub_place(prov, hub.address), "hospital",
                    "specialised", hub=hub, old_province=hub.old_province)
        _add_facility(ctx, site, name_en=hub.name_en, tier=hub.tier, address=hub.address, beds=hub.beds,
                      legacy=None)
        hubs.append(site)
    return hubs


def quotas(provinces: list[ProvinceInfo], n: int) -> list[int]:
    """n bridge points over the provinces, proportional to their communes, a few at least each."""
    floor = min(3, n // len(provinces))
    rest = n - floor * len(provinces)
    total = sum(len(p.communes) for p in provinces)
    raw = [rest * len(p.communes) / total for p in provinces]
    counts = [floor + int(r) for r in raw]
    by_fraction = sorted(range(len(provinces)), key=lambda i: (int(raw[i]) - raw[i], i))
    for i in by_fraction[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _cycle(ctx: Context, communes: list[Place]) -> Iterator[tuple[int, Place]]:
    """Communes in a shuffled order, again and again: (pass number, commune)."""
    order = list(communes)
    ctx.rng.shuffle(order)
    for round_no in itertools.count():
        for place in order:
            yield round_no, place


def _street(ctx: Context, place: Place) -> str:
    if place.division_type == "phường":
        return f"Số {ctx.rng.randrange(1, 300)} đường {ctx.rng.choice(STREET_NAMES)}"
    return hamlet(ctx.rng, place)


def _spoke_kinds(q: int) -> list[str]:
    """What a province's q bridge points are: mostly commune stations, some centres and hospitals."""
    kinds = ["provincial"] if q >= 6 else []
    kinds += ["area_hospital"] * (q // 40) + ["clinic"] * (q // 25) + ["centre"] * (round(q * 0.1) if q >= 4 else 0)
    return kinds + ["station"] * (q - len(kinds))


def build_spokes(ctx: Context, n: int) -> list[Site]:
    provinces = list(ctx.provinces.values())
    spokes: list[Site] = []
    for prov, q in zip(provinces, quotas(provinces, n), strict=True):
        stations, others = _cycle(ctx, prov.communes), _cycle(ctx, prov.communes)
        for kind in _spoke_kinds(q):
            round_no, place = next(stations if kind == "station" else others)
            spokes.append(_spoke(ctx, prov, kind, round_no, place))
    return spokes


def _spoke(ctx: Context, prov: ProvinceInfo, kind: str, round_no: int, place: Place) -> Site:
    rng = ctx.rng
    legacy_unit = "huyện"
    if kind == "station":
        name = f"Trạm Y tế {place.division_type} {place.name}"
        en = f"{_english(place.name)} {'Ward' if place.division_type == 'phường' else 'Commune'} Health Station"
        if round_no:
            name += f" (điểm trạm số {round_no + 1})"
            en += f" (site {round_no + 1})"
        site_kind, level, tier, beds, legacy_unit = "health_station", "primary", "commune", rng.randrange(3, 11), place.division_type
    elif kind == "centre":
        name, en = f"Trung tâm Y tế khu vực {place.name}", f"{_english(place.name)} Area Medical Centre"
        site_kind, level, tier, beds = "medical_centre", "basic", "district", rng.randrange(60, 300)
    elif kind == "clinic":
        name, en = f"Phòng khám Đa khoa khu vực {place.name}", f"{_english(place.name)} Area Polyclinic"
        site_kind, level, tier, beds = "clinic", "basic", "district", rng.randrange(5, 20)
    elif kind == "provincial" and not prov.is_city:
        name, en = f"Bệnh viện Đa khoa tỉnh {prov.name}", f"{_english(prov.name)} Provincial General Hospital"
        site_kind, level, tier, beds = "hospital", "specialised" if len(prov.communes) >= 90 else "basic", "provincial", rng.randrange(500, 1500)
        legacy_unit = ""
    else:  # area hospitals, and a city's general hospital
        name, en = f"Bệnh viện Đa khoa khu vực {place.name}", f"{_english(place.name)} Area General Hospital"
        site_kind, level, tier, beds = "hospital", "basic", "provincial", rng.randrange(150, 600)
    site = Site(ctx.ids.uuid(), name, prov.code, place, site_kind, level)
    legacy = legacy_address(place, legacy_unit) if legacy_unit and (site_kind != "health_station" or rng.random() < 0.4) else None
    _add_facility(ctx, site, name_en=en, tier=tier, address=_street(ctx, place), beds=beds, legacy=legacy)
    return site


def demo_station(spokes: list[Site]) -> Site:
    """The bridge point of the demo accounts: the first rural commune station of Hà Nội."""
    stations = [s for s in spokes if s.province == 1 and s.kind == "health_station" and "điểm trạm" not in s.name]
    return next((s for s in stations if s.place and s.place.division_type == "xã"), stations[0])


# ------------------------------------------------------------------ links

def _is_general(hub: Hub) -> bool:
    return "internal_medicine" in hub.specialties and "emergency" in hub.specialties


def build_links(ctx: Context, hubs: list[Site], spokes: list[Site], demo: Site) -> None:
    by_name = {h.name: h for h in hubs}
    general = [h for h in hubs if h.hub and _is_general(h.hub)]
    counters = {h.id: itertools.count(1) for h in hubs}
    for spoke in spokes:
        region = region_of(spoke.province)
        anchor, paeds = (by_name[n] for n in ANCHORS[region])
        if spoke is demo:
            chosen = [(by_name[DEMO_GENERAL_HUB], ("internal_medicine", "cardiology", "emergency")),
                      (by_name[DEMO_HUB], ("paediatrics", "neonatology", "paediatric_cardiology"))]
        else:
            local = [h for h in general if h.province == spoke.province]
            regional = [h for h in general if region_of(h.province) == region]
            first = ctx.rng.choice(local or regional)
            chosen = [(first, ("internal_medicine",))]
            if anchor is not first:
                chosen.append((anchor, ("internal_medicine",)))
            if ctx.rng.random() < 0.5:
                special = [h for h in hubs if h.hub and not _is_general(h.hub) and region_of(h.province) == region]
                extra = paeds if ctx.rng.random() < 0.5 or not special else ctx.rng.choice(special)
                if all(extra is not h for h, _ in chosen):
                    chosen.append((extra, (extra.specialties[0],) if extra is not paeds else ("paediatrics",)))
        for priority, (hub, must) in enumerate(chosen, start=1):
            _link(ctx, hub, spoke, priority, must, next(counters[hub.id]))


def _link(ctx: Context, hub: Site, spoke: Site, priority: int, must: tuple[str, ...], number: int) -> None:
    rng = ctx.rng
    others = [s for s in hub.specialties if s not in must]
    specialties = list(must) + rng.sample(others, min(len(others), rng.randrange(0, 5)))
    signed = min(ctx.today, date(rng.choice((2023, 2024, 2025)), rng.randrange(1, 13), rng.randrange(1, 29)))
    link_id = ctx.ids.uuid()
    ctx.add(HubLink.__table__, {
        "id": link_id, "hub_id": hub.id, "spoke_id": spoke.id, "priority": priority,
        "contract_ref": f"HĐ-{signed.year}/{number:03d}", "contract_signed_on": signed, "contract_terms": CONTRACT_TERMS,
        "valid_from": signed, "valid_to": None, "created_at": ctx.now, "updated_at": ctx.now,
    })
    for code in specialties:
        ctx.add(HubLinkSpecialty.__table__, {"link_id": link_id, "specialty_code": code})
    spoke.link_specialties.update(specialties)


def build_declarations(ctx: Context, hubs: list[Site], spokes: list[Site]) -> None:
    rng = ctx.rng
    for site in hubs + spokes:
        if site.hub is None and rng.random() >= 0.6:
            continue
        declared = REFORM_DATE + timedelta(days=rng.randrange(0, 90))
        published = declared + timedelta(days=rng.randrange(14, 45))
        if site.hub is not None:
            central = site.hub.tier == "central"
            authority = "Bộ Y tế" if central else ctx.provinces[site.province].department
            modes = "inter_facility_support,remote_consultation" + (",direct_to_patient" if rng.random() < 0.5 else "")
            services = site.specialties
        else:
            authority = ctx.provinces[site.province].department
            modes = "patient_at_receiving_facility,remote_consultation"
            services = tuple(sorted(site.link_specialties))
            if rng.random() < 0.15:
                published = None  # still under review
        if published and published > ctx.today:
            published = None
        decl_id = ctx.ids.uuid()
        ctx.add(RemoteCareDeclaration.__table__, {
            "id": decl_id, "facility_id": site.id, "declared_on": declared, "published_on": published,
            "authority": authority, "status": "published" if published else "submitted", "modes": modes,
            "created_at": ctx.now, "updated_at": ctx.now,
        })
        for code in services:
            ctx.add(DeclaredService.__table__, {"declaration_id": decl_id, "specialty_code": code})
