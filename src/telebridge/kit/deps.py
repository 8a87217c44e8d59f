"""Request-scoped dependencies shared by every domain: the unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit.events import bind


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the handler, rolled back on any error."""
    async with request.app.state.sessionmaker() as session:
        bind(session, request.app.state)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None
