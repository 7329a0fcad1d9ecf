"""A paper a published number comes from: the short form figure captions print."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Citation:
    title: str
    authors: str
    year: int
    venue: str
    where: str  # the figure, table or section the numbers come from, and how they were read off

    def short(self) -> str:
        first = self.authors.split(",")[0].strip()
        more = " et al." if "," in self.authors else ""
        return f'{first}{more}, "{self.title}", {self.venue} ({self.year}); {self.where}'
