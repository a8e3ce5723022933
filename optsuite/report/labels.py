"""Optimizer labels taken apart: what every entry of a table shares is said once, in its caption.

A label reads ``name(key=value,...) + part: solver + ...`` (:func:`optsuite.keys.solver_key`). An item
(a ``key=value`` or a ``part: solver``) is shared where two or more labels give it and no label gives the
same key another value; tuned values (``key=tuned``) stay in each label, since the pick differs.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..keys import split_top


@dataclass(frozen=True)
class Label:
    """``name``, its ``items`` (``"key=value"``) and ``parts`` (``"part: solver"``), in their order."""

    name: str
    items: tuple[str, ...]
    parts: tuple[str, ...]

    def text(self, leave_out: frozenset[str] = frozenset()) -> str:
        items = [i for i in self.items if i not in leave_out]
        return " + ".join([self.name + (f"({','.join(items)})" if items else ""),
                           *(p for p in self.parts if p not in leave_out)])


def parse_label(label: str) -> Label:
    main, *parts = split_top(label, " + ")
    found = re.fullmatch(r"([^()]+)\((.*)\)", main.strip())
    if not found:
        return Label(main.strip(), (), tuple(p.strip() for p in parts))
    items = tuple(i.strip() for i in split_top(found.group(2), ",") if i.strip())
    return Label(found.group(1), items, tuple(p.strip() for p in parts))


def key_of(item: str) -> str:
    return re.split(r"=|: ", item, maxsplit=1)[0]


def shared_items(labels: list[Label]) -> frozenset[str]:
    """The items that two or more of ``labels`` give, with no label giving their key another value."""
    given = Counter(i for label in labels for i in {*label.items, *label.parts})
    values: dict[str, set[str]] = {}
    for item in given:
        values.setdefault(key_of(item), set()).add(item)
    return frozenset(i for i, n in given.items()
                     if n >= 2 and len(values[key_of(i)]) == 1 and not i.endswith("=tuned"))
