"""The result store: every finished run on disk, keyed by its config's content key.

Chapters, tests and the command line share one store, so a re-run, or a second chapter that
needs the same runs, never trains again (:func:`hashlib_nn.experiments.sweep` looks here first).
Entries are :class:`hashlib_nn.experiments.result.RunResult` objects
(:mod:`hashlib_nn.experiments.config` is imported only
when one is read or named: it imports torch).

Where: ``store=`` (a path or a :class:`Store`) if given, else ``$HASHLIB_NN_STORE``, else
``pooch.os_cache("hashlib_nn") / "results"`` (on Linux ``~/.cache/hashlib_nn/results``).

Layout: one JSON file per run, ``<root>/<content key>.json``::

    {"format": "hashlib_nn.run", "schema": 1, "key": "<content key>",
     "sha256": "<SHA-256 of the canonical JSON of payload>", "payload": {RunResult.to_dict()}}

Writes are atomic: the entry is written to a hidden temporary file in the same folder
(``.<key>.<random>.tmp``), flushed and fsynced, then renamed over the target with
:func:`os.replace`. Readers only look at ``*.json`` files, so a temporary file left by a killed
process is never read. An entry that does not parse, lacks a field, has another key or fails its
checksum (truncated, edited) is reported with a :class:`CorruptEntryWarning` naming the file,
moved aside to ``<key>.json.corrupt``, and treated as missing, so the run is recomputed. An intact
entry of another schema version (or one this version cannot parse) is reported the same way
but left in place until the recomputed run replaces it.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

from hashlib_nn.validation import atomic_write, checksum

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments.config import RunConfig
    from hashlib_nn.experiments.result import CNNRunResult, RunResult

__all__ = [
    "CNN_SUBDIR",
    "CorruptEntryWarning",
    "cnn_entry_path",
    "get_cnn",
    "put_cnn",
    "Store",
    "StoreLike",
    "default_root",
    "open_store",
    "read_entry",
    "write_entry",
]

FORMAT = "hashlib_nn.run"
ENV_VAR = "HASHLIB_NN_STORE"

StoreLike = Union["Store", str, os.PathLike]
T = TypeVar("T")


class CorruptEntryWarning(UserWarning):
    """A store entry could not be read or failed its checksum; it will be recomputed."""


def default_root() -> Path:
    """``$HASHLIB_NN_STORE`` when set, else ``pooch.os_cache("hashlib_nn") / "results"``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs  # what pooch.os_cache uses, without pooch's tqdm.auto import

    return Path(platformdirs.user_cache_dir("hashlib_nn")) / "results"


def open_store(store: StoreLike | None = None) -> Store:
    """A :class:`Store` from ``store`` (a Store, a path, or None for :func:`default_root`)."""
    if isinstance(store, Store):
        return store
    if store is None or isinstance(store, str | os.PathLike):
        return Store(store)
    raise TypeError(f"store must be a Store, a path or None; got {type(store).__name__} {store!r}")


def _key_of(key_or_config: str | RunConfig) -> str:
    if isinstance(key_or_config, str):
        if len(key_or_config) != 64 or any(c not in "0123456789abcdef" for c in key_or_config):
            raise ValueError(f"a store key is 64 lowercase hex digits; got {key_or_config!r}")
        return key_or_config
    from hashlib_nn.experiments.config import RunConfig, content_key  # (runs imports torch: lazily)

    if isinstance(key_or_config, RunConfig):
        return content_key(key_or_config)
    raise TypeError(f"expected a content key or a RunConfig; got {type(key_or_config).__name__}")


class Store:
    """Runs on disk, one JSON file per content key (see the module docstring).

    >>> store = Store("/tmp/results")  # doctest: +SKIP
    >>> config in store, store.get(config), store.to_frame(dataset="mnist")  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        # path -> ((mtime_ns, size), RunResult): parsed entries, reused while the file is unchanged
        self._cache: dict[Path, tuple[tuple[int, int], RunResult]] = {}

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def path(self, key: str | RunConfig) -> Path:
        """The file of one entry (it may not exist)."""
        return self.root / f"{_key_of(key)}.json"

    # -- reading ---------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Content keys of the entries present (not checked; see :meth:`results`)."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if len(p.stem) == 64)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[RunResult]:
        return iter(self.results())

    def __contains__(self, key: object) -> bool:
        """Whether a valid entry exists for a key or a RunConfig (any evaluation plan)."""
        try:
            return self.get(key) is not None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def get(self, key: str | RunConfig) -> RunResult | None:
        """The stored result, or None when absent or corrupt (a corrupt one is reported with a
        :class:`CorruptEntryWarning` and moved aside; :func:`read_entry`)."""
        from hashlib_nn.experiments.config import SCHEMA_VERSION
        from hashlib_nn.experiments.result import RunResult

        path = self.path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        self._cache.pop(path, None)
        result = read_entry(path, format=FORMAT, schema=SCHEMA_VERSION,
                            parse=RunResult.from_dict, stacklevel=2)  # fmt: skip
        if result is not None:
            self._cache[path] = (stamp, result)
        return result

    def results(self, configs: Iterable[RunConfig] | None = None, **where: Any) -> list[RunResult]:
        """Stored results: those of ``configs`` that are present (in that order), or all, then
        filtered by ``where``: config fields (``dataset="mnist"``, ``width=[10, 20]``,
        ``seed=0``; ``train`` fields by name) equal to a value or in a list of values."""
        if configs is not None:
            found = (self.get(c) for c in configs)
            out = [r for r in found if r is not None]
        else:
            out = [r for r in (self.get(k) for k in self.keys()) if r is not None]
        if where:
            out = [r for r in out if _matches(r.config, where)]
        return out

    def to_frame(self, configs: Iterable[RunConfig] | None = None, **where: Any) -> pd.DataFrame:
        """Tidy rows (:meth:`RunResult.to_frame`) of :meth:`results`; with ``configs``, one run
        per content key, limited to the checkpoints and metric suites its configs request."""
        import pandas as pd

        from hashlib_nn.experiments.config import content_key
        from hashlib_nn.experiments.result import FRAME_COLUMNS, union_plan

        if configs is not None:
            merged: dict[str, RunConfig] = {}  # one request per key, plans united
            for c in configs:
                key = content_key(c)
                merged[key] = union_plan(merged[key], c) if key in merged else c
            pairs = [(c, self.get(k)) for k, c in merged.items()]
            frames = [
                r.to_frame(c)
                for c, r in pairs
                if r is not None and (not where or _matches(r.config, where))
            ]
        else:
            frames = [r.to_frame() for r in self.results(**where)]
        if not frames:
            return pd.DataFrame(columns=FRAME_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def export_csv(self, path: str | os.PathLike, configs: Iterable[RunConfig] | None = None,
                   **where: Any) -> Path:  # fmt: skip
        """Write :meth:`to_frame` as CSV (atomically); return the path."""
        out = Path(path)
        text = self.to_frame(configs, **where).to_csv(index=False)
        atomic_write(out, text.encode())
        return out

    # -- writing ---------------------------------------------------------------------------------
    def put(self, result: RunResult) -> Path:
        """Write one result atomically (replacing any entry with the same key)."""
        payload = result.to_dict()
        key = _key_of(payload["key"])
        path = write_entry(self.path(key), format=FORMAT, schema=payload["schema"], key=key,
                           payload=payload)  # fmt: skip
        self._cache.pop(path, None)
        return path

    def discard(self, key: str | RunConfig) -> bool:
        """Delete one entry; whether it existed."""
        path = self.path(key)
        self._cache.pop(path, None)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def stale_temporaries(self) -> list[Path]:
        """Temporary files left by interrupted writes (never read; safe to delete)."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob(".*.tmp"))


class _Corrupt(Exception):
    """The file is damaged (unparsable, checksum mismatch): moved aside."""


class _Unreadable(Exception):
    """The file is intact but not readable by this version: left in place, recomputed."""


def write_entry(path: Path, *, format: str, schema: int, key: str,
                payload: Mapping[str, Any]) -> Path:  # fmt: skip
    """Write ``payload`` atomically as a checksummed entry (the layout of the module docstring,
    ``format`` naming the kind of entry); returns ``path``."""
    entry = {"format": format, "schema": schema, "key": key,
             "sha256": checksum(payload), "payload": payload}  # fmt: skip
    atomic_write(path, json.dumps(entry, indent=1, allow_nan=True).encode())
    return path


def read_entry(path: Path, *, format: str, schema: int, parse: Callable[[dict[str, Any]], T],
               label: str = "result store entry", stacklevel: int = 1) -> T | None:  # fmt: skip
    """The payload of the entry at ``path`` (written by :func:`write_entry`) parsed by
    ``parse``, or None: when the file is absent; when it does not parse as JSON, is not a
    ``format`` entry, fails its checksum or holds another key than its file name's (reported
    with a :class:`CorruptEntryWarning` and moved aside to ``<key>.json.corrupt``); when it is
    intact but of another ``schema`` or ``parse`` refuses it (reported, left in place).
    ``label`` starts the warning; ``stacklevel`` counts from the caller of this function.
    The store's own entries and the CNN runs' (:mod:`hashlib_nn.experiments`) share it."""
    try:
        return _read(path, format, schema, parse)
    except FileNotFoundError:
        return None
    except _Unreadable as exc:
        warnings.warn(f"{label} {path} is intact but {exc}; the run will be recomputed",
                      CorruptEntryWarning, stacklevel=stacklevel + 1)  # fmt: skip
        return None
    except _Corrupt as exc:
        aside = path.with_name(path.name + ".corrupt")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        warnings.warn(f"{label} {path} is corrupt: {exc}; moved to {aside.name}, the run will "
                      "be recomputed", CorruptEntryWarning, stacklevel=stacklevel + 1)  # fmt: skip
        return None


def _read(path: Path, format: str, schema: int, parse: Callable[[dict[str, Any]], T]) -> T:
    try:
        entry = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Corrupt(f"not readable JSON ({exc})") from None
    if not isinstance(entry, dict) or entry.get("format") != format:
        raise _Corrupt(f"not a {format} entry")
    payload = entry.get("payload")
    if entry.get("sha256") != checksum(payload):
        raise _Corrupt("checksum mismatch (truncated or edited)")
    key = path.stem
    if entry.get("key") != key or not isinstance(payload, dict) or payload.get("key") != key:
        raise _Corrupt(f"holds key {entry.get('key')!r}, not its file name's")
    if entry.get("schema") != schema:
        raise _Unreadable(f"has schema {entry.get('schema')!r}; this version reads {schema}")
    try:
        return parse(payload)
    except (KeyError, TypeError, ValueError) as exc:
        # The checksum holds, so the file is as written: a version mismatch, not damage.
        raise _Unreadable(
            f"cannot be read by this version ({type(exc).__name__}: {exc})"
        ) from None


def _matches(config: RunConfig, where: dict[str, Any]) -> bool:
    d = config.to_dict()
    flat = {**d, **d.pop("train")}
    for name, want in where.items():
        if name not in flat:
            raise ValueError(f"cannot filter on {name!r}; accepted: {', '.join(sorted(flat))}")
        have = flat[name]
        if name == "n_train" and want is not None:
            have = config.n_examples  # n_train=48000 matches the full set (stored as None)
        if isinstance(want, list | tuple | set | frozenset) and not isinstance(have, list):
            if have not in want:
                return False
        elif have != (list(want) if isinstance(want, tuple) else want):
            return False
    return True


# ----------------------------------------------------------------------------------------------
# CNN runs: a subfolder of the same store
# ----------------------------------------------------------------------------------------------


#: The subfolder of the store that holds CNN runs (``<root>/cnn/<key>.json``): it keeps them out of
#: :class:`Store`'s own listing, which would take them for damaged MLP runs.
CNN_SUBDIR = "cnn"


def cnn_entry_path(store: StoreLike | None, key: str) -> Path:
    """Where the CNN run ``key`` is stored (whether or not it exists)."""
    return open_store(store).root / CNN_SUBDIR / f"{key}.json"


def get_cnn(store: StoreLike | None, key: str) -> CNNRunResult | None:
    """The stored CNN run ``key`` (``from_store`` set), or None when absent or damaged (then
    reported and moved aside as :meth:`Store.get` does)."""
    from hashlib_nn.experiments.config import CNN_FORMAT, CNN_SCHEMA_VERSION
    from hashlib_nn.experiments.result import CNNRunResult

    def parse(payload: dict[str, Any]) -> CNNRunResult:
        return CNNRunResult.from_dict(payload, from_store=True)

    return read_entry(cnn_entry_path(store, key), format=CNN_FORMAT, schema=CNN_SCHEMA_VERSION,
                      parse=parse, label="CNN store entry", stacklevel=3)  # fmt: skip


def put_cnn(store: StoreLike | None, result: CNNRunResult) -> Path:
    """Store a CNN run atomically, with a checksum; returns its path."""
    from hashlib_nn.experiments.config import CNN_FORMAT, CNN_SCHEMA_VERSION

    return write_entry(cnn_entry_path(store, result.key), format=CNN_FORMAT,
                       schema=CNN_SCHEMA_VERSION, key=result.key,
                       payload=result.to_dict())  # fmt: skip


