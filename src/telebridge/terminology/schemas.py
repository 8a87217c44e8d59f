"""Output models of the terminology API."""

from __future__ import annotations

from pydantic import BaseModel


class Icd10Out(BaseModel):
    code: str
    title: str  # in the requested language (Vietnamese, or English where no Vietnamese title is packaged)
    title_vi: str | None
    title_en: str
    block: str | None
    block_title: str | None
    chapter: str | None
    chapter_title: str | None
    remote_treatment: bool  # listed for remote treatment (Circular 30/2023/TT-BYT)


class Icd10Results(BaseModel):
    query: str
    items: list[Icd10Out]
