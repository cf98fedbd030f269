"""Where an uploaded list of members goes. The lists live in apps above members (a static
segment is campaigns'), which register a ``Target`` per kind of import profile here, as the
earning pipeline registers its processor (``apply.PROCESSORS``): members never imports them.

A file of that kind names existing members by member number or phone; the upload page asks
which list (``choices``), the preview marks members already on it as duplicates (``present``),
and the job adds the rest (``add``), which returns the members it added: a row whose member
another upload added meanwhile is a duplicate too, so running a file again adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class Target:
    label: StrOrPromise  # what the upload page's field is called ("Segment")
    choices: Callable[[Any], list[tuple[int, str]]]  # user -> the lists they may fill
    name: Callable[[int], str]  # a list's name, for the run's page
    present: Callable[[int, Collection[int]], set[int]]  # (list, member ids) -> those on it
    add: Callable[[int, Collection[int], Any], set[int]]  # (list, member ids, actor) -> those added


#: ImportProfile.Kind -> where its rows go.
TARGETS: dict[str, Target] = {}
