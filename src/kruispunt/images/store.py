"""Where image files live: a small base class with a type key, a filesystem store (the
default) and an in-memory fake for tests and the demo.

Files are grouped by UTC capture day (``<dir>/YYYYMMDD/<name>``) so that retention removes a
whole day folder at once, like the reads' day tables. A file is written to a temporary name
in its day folder, flushed, and renamed into place: a reader never sees half an image, and a
crash leaves at most a temporary file that the day's removal takes along.

Only the image service calls a store; it hands over names it made itself (``im-<hex>.jpg``),
and the store still refuses any other name, so no path ever leaves its directory.
"""

from __future__ import annotations

import abc
import datetime as dt
import os
import re
import secrets
import shutil
import threading
from pathlib import Path
from typing import ClassVar

from kruispunt.config import Config, ImagesConfig, sqlite_path

NAME = re.compile(r"^im-[0-9a-f]{8,64}\.(jpg|png)$")
_DAY = re.compile(r"^\d{8}$")


class ImageStoreError(Exception):
    """The store could not keep or remove a file."""


def _check(name: str) -> str:
    if not NAME.match(name):
        raise ImageStoreError(f"not an image file name: {name!r}")
    return name


def day_folder(day: dt.date) -> str:
    return f"{day:%Y%m%d}"


class ImageStore(abc.ABC):
    """Image files by capture day and name."""

    type_key: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: ImagesConfig, *, directory: Path) -> ImageStore: ...

    @abc.abstractmethod
    def put(self, day: dt.date, name: str, data: bytes) -> None:
        """Keep ``data`` as ``name`` of ``day``, atomically (all of it or nothing)."""

    @abc.abstractmethod
    def get(self, day: dt.date, name: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""

    @abc.abstractmethod
    def delete(self, day: dt.date, name: str) -> bool:
        """Remove one file; False when it was not there."""

    @abc.abstractmethod
    def days(self) -> list[dt.date]:
        """The capture days that hold files, oldest first."""

    @abc.abstractmethod
    def drop_day(self, day: dt.date) -> int:
        """Remove a whole day (every file of it); returns the number of images removed."""


class FilesystemImageStore(ImageStore):
    type_key: ClassVar[str] = "filesystem"

    def __init__(self, directory: Path, *, fsync: bool = True):
        self.directory = directory
        self._fsync = fsync

    @classmethod
    def from_config(cls, config: ImagesConfig, *, directory: Path) -> FilesystemImageStore:
        return cls(directory, fsync=config.fsync)

    def _path(self, day: dt.date, name: str) -> Path:
        return self.directory / day_folder(day) / _check(name)

    def put(self, day: dt.date, name: str, data: bytes) -> None:
        final = self._path(day, name)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
            with open(temp, "wb") as f:
                f.write(data)
                if self._fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(temp, final)
            if self._fsync:
                self._sync_dir(final.parent)
        except OSError as exc:
            raise ImageStoreError(f"cannot store image {name}: {exc.strerror}") from exc

    @staticmethod
    def _sync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, day: dt.date, name: str) -> bytes | None:
        try:
            return self._path(day, name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, day: dt.date, name: str) -> bool:
        try:
            self._path(day, name).unlink()
        except FileNotFoundError:
            return False
        return True

    def days(self) -> list[dt.date]:
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            if entry.is_dir() and _DAY.match(entry.name):
                try:
                    found.append(dt.datetime.strptime(entry.name, "%Y%m%d").date())
                except ValueError:
                    continue
        return sorted(found)

    def drop_day(self, day: dt.date) -> int:
        folder = self.directory / day_folder(day)
        if not folder.is_dir():
            return 0
        count = sum(1 for f in folder.iterdir() if NAME.match(f.name))
        shutil.rmtree(folder)
        return count


class MemoryImageStore(ImageStore):
    """The fake: files in a dict (tests, the demo)."""

    type_key: ClassVar[str] = "memory"

    def __init__(self) -> None:
        self._files: dict[dt.date, dict[str, bytes]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ImagesConfig, *, directory: Path) -> MemoryImageStore:
        return cls()

    def put(self, day: dt.date, name: str, data: bytes) -> None:
        with self._lock:
            self._files.setdefault(day, {})[_check(name)] = bytes(data)

    def get(self, day: dt.date, name: str) -> bytes | None:
        with self._lock:
            return self._files.get(day, {}).get(_check(name))

    def delete(self, day: dt.date, name: str) -> bool:
        with self._lock:
            return self._files.get(day, {}).pop(_check(name), None) is not None

    def days(self) -> list[dt.date]:
        with self._lock:
            return sorted(d for d, files in self._files.items() if files)

    def drop_day(self, day: dt.date) -> int:
        with self._lock:
            return len(self._files.pop(day, {}))


IMAGE_STORES: dict[str, type[ImageStore]] = {
    FilesystemImageStore.type_key: FilesystemImageStore,
    MemoryImageStore.type_key: MemoryImageStore,
}


def image_directory(config: Config) -> Path:
    """The configured folder, else ``images`` beside the SQLite database (``var/images``
    with PostgreSQL, like the SQLite default's ``var``)."""
    if config.images.directory is not None:
        return config.images.directory
    if config.store.url.startswith("sqlite:"):
        return sqlite_path(config.store.url).parent / "images"
    return Path("var") / "images"


def build_image_store(config: Config) -> ImageStore:
    cls = IMAGE_STORES[config.images.store]
    return cls.from_config(config.images, directory=image_directory(config))
