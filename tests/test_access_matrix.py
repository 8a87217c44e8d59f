"""Walks every /api/v1 route with every role and relationship, and fails on any response
that leaks data it should not.

Canaries: the world's two patients carry unique names (with the world's tag). Who may see
a patient's identity: clinicians at a facility with a care relationship to them, and the
patient themself. Every other role (hub staff without a relationship, administrators,
analysts, clinicians of another province) must never receive those names or citizen IDs,
whatever route, path parameter or query they use. Writes aimed at another province's
facility or patient by someone without a relationship must never succeed. Without a
token, every route but sign-in answers 401.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import World

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
PUBLIC = {("/api/v1/auth/token", "POST")}
ROLES = ("spoke_clinician", "hub_specialist", "hub_coordinator", "facility_admin", "analyst_province",
         "analyst_national", "sysadmin", "other_clinician", "patient_user")
# Who may see each patient's identity.
MAY_SEE = {"patient_a": {"spoke_clinician", "patient_user"}, "patient_b": {"other_clinician"}}
# Who may write to spoke_b / patient_b (another province): its own clinician and the system administrator.
MAY_WRITE_B = {"other_clinician", "sysadmin"}


@dataclass(frozen=True)
class Variant:
    label: str
    values: dict[str, str]
    targets_b: bool  # aims at spoke_b / patient_b


def api_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every /api/v1 route, from the OpenAPI document (the API's public contract)."""
    return sorted(
        (path, method.upper())
        for path, item in app.openapi()["paths"].items() if path.startswith("/api/v1")
        for method in item if method in ("get", "post", "put", "patch", "delete")
    )


def _candidates(name: str, w: World) -> list[tuple[str, str, bool]]:
    """(label, value, targets_b) for a path parameter, from its name."""
    assert w.patient_a and w.patient_b
    n = name.lower()
    if "patient" in n:
        return [("own patient", str(w.patient_a.id), False), ("other province patient", str(w.patient_b.id), True)]
    if "practitioner" in n:
        return [("own practitioner", str(w.practitioners["spoke"].id), False),
                ("hub practitioner", str(w.practitioners["hub"].id), False),
                ("other province practitioner", str(w.practitioners["other"].id), True)]
    if "link" in n:
        return [("own link", str(w.link_a.id), False)]
    if any(k in n for k in ("facility", "hub", "spoke")):
        return [("own facility", str(w.spoke_a.id), False), ("linked hub", str(w.hub_a.id), False),
                ("other province facility", str(w.spoke_b.id), True)]
    return [("unknown id", str(uuid.uuid4()), False)]


def variants(path: str, w: World) -> list[Variant]:
    names = PARAM.findall(path)
    if not names:
        return [Variant("", {}, False)]
    out = []
    for combo in itertools.product(*(_candidates(n, w) for n in names)):
        out.append(Variant(", ".join(c[0] for c in combo), {n: c[1] for n, c in zip(names, combo)},
                           any(c[2] for c in combo)))
    return out


def canaries(w: World) -> dict[str, list[str]]:
    assert w.patient_a and w.patient_b
    return {key: [p.full_name] + ([p.citizen_id] if p.citizen_id else [])
            for key, p in (("patient_a", w.patient_a), ("patient_b", w.patient_b))}


async def test_every_api_route_needs_a_token(app, client: httpx.AsyncClient, world: World) -> None:  # type: ignore[no-untyped-def]
    routes = api_routes(app)
    assert len(routes) >= 20, routes  # the walk covers the real API, not an empty app
    for path, method in routes:
        if (path, method) in PUBLIC:
            continue
        for v in variants(path, world):
            url = PARAM.sub(lambda m: v.values[m.group(1)], path)
            r = await client.request(method, url, json={})
            assert r.status_code == 401, f"{method} {url} without a token answered {r.status_code}"


async def test_no_route_leaks_patients_to_roles_without_a_relationship(app, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    marks = canaries(world)
    problems: list[str] = []
    checked = 0
    clients = {role: await as_user(getattr(world, role)) for role in ROLES}
    for path, method in api_routes(app):
        if (path, method) in PUBLIC:
            continue
        for v in variants(path, world):
            url = PARAM.sub(lambda m: v.values[m.group(1)], path)
            for role, c in clients.items():
                if method == "GET":
                    r = await c.get(url, params={"q": world.tag, "page_size": 100})
                    checked += 1
                    if r.status_code >= 500:
                        problems.append(f"{role}: GET {url} → {r.status_code}")
                    for patient, words in marks.items():
                        if role not in MAY_SEE[patient] and any(word in r.text for word in words):
                            problems.append(f"{role} sees {patient} via GET {path} ({v.label}) → {r.status_code}")
                else:
                    r = await c.request(method, url, json={})
                    checked += 1
                    if r.status_code >= 500:
                        problems.append(f"{role}: {method} {url} → {r.status_code}")
                    if v.targets_b and role not in MAY_WRITE_B and r.is_success:
                        problems.append(f"{role} wrote via {method} {path} ({v.label}) → {r.status_code}")
    assert checked > 100
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ["hub_specialist", "analyst_national", "sysadmin", "facility_admin"])
async def test_denied_patient_reads_are_audited(world: World, as_user, role: str, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from telebridge.kit.audit import AuditEvent

    assert world.patient_a
    c = await as_user(getattr(world, role))
    r = await c.get(f"/api/v1/patients/{world.patient_a.id}")
    assert r.status_code == 403
    async with sessionmaker() as db:
        row = await db.scalar(select(AuditEvent).where(
            AuditEvent.patient_id == world.patient_a.id, AuditEvent.actor_user_id == getattr(world, role).id,
            AuditEvent.outcome == "denied"))
    assert row is not None and row.client_addr == "203.0.113.9"
