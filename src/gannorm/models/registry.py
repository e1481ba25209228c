"""One small name -> record table, shared by the registries of normalizations
(:mod:`gannorm.models.norms`), variant presets (:mod:`gannorm.models.variant`) and architectures
(:mod:`gannorm.models.architectures`). Torch-free."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Records by their ``name`` attribute, in registration order.

    Args:
        what: the records in words, for messages (``"normalization"``).
        error: the exception :meth:`get` raises for an unknown name (``KeyError`` or ``ValueError``).
        hint: appended to that message (e.g. how to write a record instead).
    """

    def __init__(self, what: str, error: type[Exception] = KeyError, hint: str = "") -> None:
        self.what, self.error, self.hint = what, error, hint
        self._records: dict[str, T] = {}

    def register(self, *records: T) -> None:
        """Add records (registering the same record twice is a no-op).

        Raises:
            ValueError: another, different record already has the name.
        """
        for record in records:
            name = record.name  # type: ignore[attr-defined]
            old = self._records.get(name)
            if old is not None and old != record:
                raise ValueError(f"two {self.what}s register the name {name!r}")
            self._records[name] = record

    def get(self, name: str) -> T:
        """The record ``name``.

        Raises:
            KeyError or ValueError (``error``): unknown name; the message lists the known ones.
        """
        try:
            return self._records[name]
        except (KeyError, TypeError):
            raise self.error(f"unknown {self.what} {name!r}; known: {list(self._records)}{self.hint}") from None

    def all(self) -> dict[str, T]:
        """Every record, by name, in registration order."""
        return dict(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._records
