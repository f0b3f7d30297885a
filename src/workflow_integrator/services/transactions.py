"""The one way services open a writing transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.services.errors import Conflict


@contextmanager
def write_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction, committed at the end of the block.

    A write that clashes with existing data (a unique name taken meanwhile by a
    concurrent request, say) becomes a :class:`Conflict` instead of a server error.
    """
    with sessions() as session, session.begin():
        try:
            yield session
        except IntegrityError as exc:
            raise Conflict(f"the change clashes with existing data: {exc.orig}") from None
