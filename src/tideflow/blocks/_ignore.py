"""``.tideflowignore``: gitignore-style patterns for uploading a flow's directory.

The rules are git's (``gitignore(5)``):

* blank lines and lines starting with ``#`` are ignored (``\\#`` for a literal ``#``);
* ``!pattern`` re-includes what an earlier pattern excluded, except inside an excluded
  directory (an excluded directory is never entered);
* a trailing ``/`` matches directories only;
* a pattern with a ``/`` at the start or in the middle is relative to the uploaded
  directory; otherwise it matches a name at any depth;
* ``*`` matches anything but ``/``, ``?`` one character but ``/``, ``[a-z]`` a class;
  ``**/x`` matches ``x`` at any depth, ``x/**`` everything inside ``x``, ``a/**/b``
  zero or more directories between.

``.git``, ``__pycache__`` and ``.venv`` are always left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: names never uploaded, whatever the ignore file says
ALWAYS_SKIP = frozenset({".git", "__pycache__", ".venv"})


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    source: str


def _translate_glob(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        if glob.startswith("**/", i) and (i == 0 or glob[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i) and i + 2 == n and (i == 0 or glob[i - 1] == "/"):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append(f"(?!/)[{body.replace(chr(92), chr(92) * 2)}]")
                i = end + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _compile(line: str) -> _Pattern | None:
    raw = line
    if not line.strip() or line.startswith("#"):
        return None
    # Trailing spaces are dropped unless escaped with a backslash.
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        stripped += " "
    line = stripped
    negate = line.startswith("!")
    if negate or line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/") and not line.endswith("\\/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate_glob(line)
    if not anchored:
        body = f"(?:.*/)?{body}"
    return _Pattern(re.compile(f"^{body}$", re.DOTALL), negate, dir_only, raw)


class IgnoreSpec:
    """Compiled gitignore-style patterns.

    Example:
        >>> spec = IgnoreSpec.from_lines(["*.pyc", "data/", "!data/keep.csv"])
        >>> spec.match("pkg/mod.pyc"), spec.match("data", is_dir=True), spec.match("a.py")
        (True, True, False)
    """

    def __init__(self, patterns: Iterable[_Pattern]) -> None:
        self._patterns = list(patterns)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> IgnoreSpec:
        """Compile the lines of an ignore file."""
        compiled = (_compile(line.rstrip("\r\n")) for line in lines)
        return cls(p for p in compiled if p is not None)

    def match(self, path: str, *, is_dir: bool = False) -> bool:
        """Whether ``path`` (relative, POSIX) is excluded by the patterns themselves.

        Parent directories are not consulted: callers walk top-down and do not enter an
        excluded directory (``is_ignored`` checks the parents too).
        """
        ignored = False
        for pattern in self._patterns:
            if pattern.dir_only and not is_dir:
                continue
            if ignored == pattern.negate and pattern.regex.match(path):
                ignored = not pattern.negate
        return ignored

    def is_ignored(self, path: str, *, is_dir: bool = False) -> bool:
        """Whether ``path`` is left out, its parent directories included."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            if self.match("/".join(parts[:depth]), is_dir=True):
                return True
        return self.match("/".join(parts), is_dir=is_dir)
