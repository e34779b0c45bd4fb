"""Numbers and lists in words, as every message of a report writes them."""
from __future__ import annotations


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is one.

    >>> plural(1, "page"), plural(1200, "post")
    ('1 page', '1,200 posts')
    """
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def listing(names, limit: int = 3) -> str:
    """The first ``limit`` names and how many more.

    >>> listing(["LinkedIn", "X"]), listing(["a", "b", "c", "d", "e"], limit=3)
    ('LinkedIn, X', 'a, b, c and 2 more')
    """
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def joined(names) -> str:
    """Every name: ``A``, ``A and B``, ``A, B and C``.

    >>> joined(["LinkedIn"]), joined(["LinkedIn", "X"]), joined(["A", "B", "C"])
    ('LinkedIn', 'LinkedIn and X', 'A, B and C')
    """
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
