"""The parse and compile cache under ``target/cache/``: what a model file gave last time, by key.

An entry is found by a key that hashes everything its value depends on: the file's text, the
runner's code and sqlglot's version (``code_version``), and what the caller adds (the macros and
vars for a parse; the target and the parents' keys for a compile). A changed input is a new key,
so an entry is never invalidated, only no longer asked for. Entries live in one folder per
``code_version``: the first entry a new runner (or an edited checkout) writes removes the
folders older code wrote, so the cache holds one code version's entries; ``runner clean``
removes it all.

Entries are pickles written atomically (temporary file, then rename), so concurrent runs at
worst write one entry twice with the same content. An entry that cannot be read back (truncated,
corrupted, written by another Python) is a miss, never a wrong answer: the caller recomputes and
writes it again. The folder is the project's own output, trusted like its model files.

    >>> cache = Cache(Path("target/cache"))                   # doctest: +SKIP
    >>> key = cache.key("parse", text, dialect)               # doctest: +SKIP
    >>> cache.get(key) or cache.put(key, parse(text))         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from runner.version import __version__

FORMAT = 1  # bump when an entry's shape changes


@cache
def code_version() -> str:
    """The runner's version, its code (each module's path, size and modification time, so an
    edited checkout never reads what older code wrote), sqlglot's version and the format."""
    import sqlglot

    package = Path(__file__).resolve().parents[1]
    files = sorted(package.rglob("*.py"))
    parts = [f"{p.relative_to(package)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join([__version__, sqlglot.__version__, str(FORMAT), *parts])
                          .encode()).hexdigest()


class Cache:
    """Entries under ``root``, each a file named by its key, in this code version's folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / code_version()[:16]
        self.hits = self.misses = 0
        self._pruned = False

    @staticmethod
    def key(*parts: object) -> str:
        """A key over ``parts`` (strings or reprs of plain values) and ``code_version()``."""
        digest = hashlib.sha256(code_version().encode())
        for part in parts:
            digest.update(b"\0" + (part if isinstance(part, str) else repr(part)).encode())
        return digest.hexdigest()

    def get(self, key: str) -> Any | None:
        """The entry's value, or None when there is none or it cannot be read."""
        try:
            with open(self._path(key), "rb") as handle:
                value = pickle.load(handle)
        except Exception:  # noqa: BLE001 - missing, truncated or corrupted: recompute
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` (atomically) and return it; a cache that cannot be written (a
        read-only folder, a full disk) costs only speed."""
        path = self._path(key)
        if not self._pruned:
            self._pruned = True
            self.prune()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass
        return value

    def prune(self) -> None:
        """Remove what other code versions wrote (never read again by this code)."""
        try:
            others = [p for p in self.root.iterdir() if p.is_dir() and p != self.folder]
        except OSError:
            return
        for other in others:
            shutil.rmtree(other, ignore_errors=True)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:]
