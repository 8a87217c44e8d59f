"""The ICD-10 API and the htmx suggestion fragment: staff only, Vietnamese by default."""

from __future__ import annotations

import httpx

from tests.factories import World


async def test_api_search_and_lookup(world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    r = await c.get("/api/v1/terminology/icd10", params={"q": "viem phoi", "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "viem phoi" and len(body["items"]) == 5
    assert "J18" in [i["code"] for i in body["items"]]
    j18 = next(i for i in body["items"] if i["code"] == "J18")
    assert j18["title"] == "Viêm phổi, tác nhân không xác định" and j18["chapter"] == "X"
    r = await c.get("/api/v1/terminology/icd10", params={"q": "J18", "lang": "en"})
    assert [i["code"] for i in r.json()["items"]][:2] == ["J18", "J18.0"]
    assert r.json()["items"][0]["title"] == "Pneumonia, organism unspecified"
    r = await c.get("/api/v1/terminology/icd10/e11.9")
    assert r.status_code == 200 and r.json()["remote_treatment"] is True and r.json()["code"] == "E11.9"
    r = await c.get("/api/v1/terminology/icd10/J18.7")
    assert r.status_code == 404 and "ICD-10" in r.json()["error"]["message"]
    r = await c.get("/api/v1/terminology/icd10/pneumonia")
    assert r.status_code == 400 and r.json()["error"]["field"] == "icd10"
    r = await c.get("/api/v1/terminology/icd10", params={"q": "x", "limit": 500})
    assert r.status_code == 422


async def test_api_needs_a_signed_in_staff_member(client: httpx.AsyncClient, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/api/v1/terminology/icd10", params={"q": "J18"})
    assert r.status_code == 401
    patient = await as_user(world.patient_user)
    r = await patient.get("/api/v1/terminology/icd10", params={"q": "J18"})
    assert r.status_code == 403
    analyst = await as_user(world.analyst_national)
    assert (await analyst.get("/api/v1/terminology/icd10", params={"q": "J18"})).status_code == 200


async def test_suggest_fragment_for_the_picker(signed_in, client: httpx.AsyncClient, world: World) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/terminology/icd10/suggest", params={"q": "J18"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = await client.get("/terminology/icd10/suggest", params={"q": "J18"}, headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["hx-redirect"].startswith("/login")
    c = await signed_in(world.hub_specialist)
    r = await c.get("/terminology/icd10/suggest", params={"icd10_q": "viêm phổi"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert r.text.lstrip().startswith("<ul") and 'role="listbox"' in r.text
    assert 'data-code="J18"' in r.text and "Viêm phổi, tác nhân không xác định" in r.text
    r = await c.get("/terminology/icd10/suggest", params={"q": "<script>alert(1)</script>"})
    assert r.status_code == 200 and "<script>" not in r.text and "&lt;script&gt;" in r.text
    r = await c.get("/terminology/icd10/suggest", params={"q": "I10"})
    assert "điều trị từ xa" in r.text  # listed in Circular 30/2023 (translated tag)
    patient = await signed_in(world.patient_user)
    assert (await patient.get("/terminology/icd10/suggest", params={"q": "J18"})).status_code == 403


async def test_picker_script_is_served_for_csp_self(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/js/icd10-picker.js")
    assert r.status_code == 200 and "data-icd10-picker" in r.text


async def test_lookup_page_resolves_chosen_and_typed_codes(signed_in, world: World) -> None:  # type: ignore[no-untyped-def]
    c = await signed_in(world.spoke_clinician)
    r = await c.get("/terminology/icd10")
    assert r.status_code == 200 and "Tra cứu ICD-10" in r.text
    assert 'src="/static/js/icd10-picker.js"' in r.text and "data-icd10-picker" in r.text
    # Without JavaScript: chosen codes (repeated field) plus codes typed in the box.
    r = await c.get("/terminology/icd10", params=[("code", "J18.9"), ("icd10_q", "i10, e119; J18.9 X99.9 viem")])
    assert r.status_code == 200
    table = r.text.split('id="icd10-chosen-table"', 1)[1]
    for text in ("J18.9", "Viêm phổi, không đặc hiệu", "I10", "E11.9", "được phép", "Cúm và viêm phổi"):
        assert text in table, text
    assert table.count("<strong>J18.9</strong>") == 1  # duplicates dropped
    assert "Mã ICD-10 này không có trong danh mục: X99.9." in r.text
    assert "“viem” không phải là mã ICD-10." in r.text
    assert 'name="code" value="E11.9"' in r.text  # kept as chosen for the next edit
