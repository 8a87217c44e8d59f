"""A DICOMweb client for a hospital PACS: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

Async (httpx). A PACS that cannot be reached, or answers with a server error, raises
:class:`PacsUnavailable` (502) with a translated message; nothing is half-stored on our side
because callers ingest only what was fully received. A study is retrieved into encrypted temporary
files as it arrives (:meth:`DicomWebClient.retrieve_study_spooled`), never held whole in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from telebridge.imaging import multipart
from telebridge.kit.errors import DomainError, NotFound, TooLarge
from telebridge.kit.i18n import N_

DICOM_JSON = "application/dicom+json"
PACS_DOWN = N_("The image archive (PACS) cannot be reached right now; try again later.")
PACS_FAILED = N_("The image archive (PACS) refused the request (status {status}).")
PACS_NOT_FOUND = N_("The image archive (PACS) does not have this study.")


class PacsUnavailable(DomainError):
    status = 502
    code = "pacs_unavailable"


def tag_value(item: dict[str, Any], tag: str) -> Any:
    """First value of a DICOM JSON attribute ('0020000D' → '1.2.3'), or None."""
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return None
    first = values[0]
    if isinstance(first, dict) and "Alphabetic" in first:  # person name
        return first["Alphabetic"]
    return first


@dataclass
class StoreResult:
    stored: list[str] = field(default_factory=list)  # SOP instance UIDs
    failed: list[tuple[str, int | None]] = field(default_factory=list)  # (SOP instance UID, failure reason)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code == 404:
        raise NotFound(PACS_NOT_FOUND)
    if response.status_code >= 400 and response.status_code not in (409,):
        raise PacsUnavailable(PACS_FAILED, status=response.status_code)
    return response


class DicomWebClient:
    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError:
            raise PacsUnavailable(PACS_DOWN) from None
        return _checked(response)

    # ----------------------------------------------------------------- QIDO-RS
    async def _search(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        response = await self._request("GET", path, params=clean, headers={"accept": DICOM_JSON})
        if response.status_code == 204 or not response.content:
            return []
        return list(response.json())

    async def search_studies(self, **params: Any) -> list[dict[str, Any]]:
        return await self._search("/studies", params)

    async def search_series(self, study_uid: str | None = None, **params: Any) -> list[dict[str, Any]]:
        return await self._search(f"/studies/{study_uid}/series" if study_uid else "/series", params)

    async def search_instances(self, study_uid: str | None = None, series_uid: str | None = None,
                               **params: Any) -> list[dict[str, Any]]:
        if study_uid and series_uid:
            path = f"/studies/{study_uid}/series/{series_uid}/instances"
        elif study_uid:
            path = f"/studies/{study_uid}/instances"
        else:
            path = "/instances"
        return await self._search(path, params)

    # ----------------------------------------------------------------- WADO-RS
    async def _retrieve(self, path: str) -> list[bytes]:
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        response = await self._request("GET", path, headers={"accept": accept})
        parts = multipart.decode(response.content, response.headers.get("content-type", ""))
        return [payload for _, payload in parts]

    async def retrieve_study(self, study_uid: str) -> list[bytes]:
        return await self._retrieve(f"/studies/{study_uid}")

    @asynccontextmanager
    async def retrieve_study_spooled(self, study_uid: str, *, directory: Path,
                                     limit_of: Callable[[str], tuple[int, TooLarge] | None],
                                     total: int) -> AsyncIterator[list[multipart.SpooledPart]]:
        """:meth:`retrieve_study` for studies of any size: the answer is read as it arrives, each part
        to an encrypted temporary file under ``directory`` (see :func:`multipart.spooled`); yields the
        parts once the whole message is in, and removes the files on leaving."""
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        async with AsyncExitStack() as stack:
            try:
                response = _checked(await stack.enter_async_context(
                    self._http.stream("GET", f"/studies/{study_uid}", headers={"accept": accept})))
                parts = await stack.enter_async_context(multipart.spooled(
                    response.aiter_bytes(),
                    response.headers.get("content-type", ""), directory=directory, total=total, limit_of=limit_of))
            except httpx.TransportError:  # unreachable, or the answer was cut off
                raise PacsUnavailable(PACS_DOWN) from None
            yield parts

    async def retrieve_series(self, study_uid: str, series_uid: str) -> list[bytes]:
        return await self._retrieve(f"/studies/{study_uid}/series/{series_uid}")

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        found = await self._retrieve(f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}")
        if len(found) != 1:
            raise NotFound(PACS_NOT_FOUND)
        return found[0]

    async def retrieve_metadata(self, study_uid: str) -> list[dict[str, Any]]:
        response = await self._request("GET", f"/studies/{study_uid}/metadata", headers={"accept": DICOM_JSON})
        return list(response.json())

    async def rendered_frame(self, study_uid: str, series_uid: str, sop_uid: str, frame: int = 1,
                             accept: str = "image/jpeg") -> bytes:
        path = f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frame}/rendered"
        return (await self._request("GET", path, headers={"accept": accept})).content

    # ----------------------------------------------------------------- STOW-RS
    async def store(self, instances: list[bytes], study_uid: str | None = None) -> StoreResult:
        body, content_type = multipart.encode(instances)
        response = await self._request("POST", f"/studies/{study_uid}" if study_uid else "/studies", content=body,
                                       headers={"content-type": content_type, "accept": DICOM_JSON})
        result = StoreResult()
        if not response.content:
            return result
        payload = response.json()
        for item in (payload.get("00081199") or {}).get("Value") or []:
            result.stored.append(str(tag_value(item, "00081155")))
        for item in (payload.get("00081198") or {}).get("Value") or []:
            reason = tag_value(item, "00081197")
            result.failed.append((str(tag_value(item, "00081155")), int(reason) if reason is not None else None))
        return result
