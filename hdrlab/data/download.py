"""Checksummed, atomic, resumable downloads of the public datasets (DESIGN §5).

A :class:`Resource` describes one file: where it can be fetched (several
mirrors, tried in order), its SHA-256 and size, its licence, and a paragraph
saying how to get it by hand. :func:`download` writes to ``<file>.part``,
resumes an interrupted transfer with an HTTP ``Range`` request when the server
allows it, checks size and SHA-256, and only then renames the file into place
with :func:`os.replace`. A file that fails its checksum never becomes the final
file, and when every mirror fails a :class:`~hdrlab.errors.DownloadError` names
each failure and the manual route. There is no silent fallback.

Processes that download the same file at the same time take turns: each holds
an exclusive ``fcntl.flock`` on ``<file>.lock`` while it works on the ``.part``
(a POSIX lock, released by the system if the process dies), and the one that
waited finds the verified file in place.

:data:`REGISTRY` starts empty: dataset entries are added with :func:`register`
once their URLs and checksums have been verified.

Example:
    >>> import hashlib, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.bin"
    >>> _ = path.write_bytes(b"radiance")
    >>> verify(path, hashlib.sha256(b"radiance").hexdigest())
    True

Taught in: notebooks (Colab/full runs)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hdrlab.errors import ChoiceError, DownloadError, MissingFileError, describe

__all__ = [
    "CACHE_VARIABLE",
    "REGISTRY",
    "Resource",
    "cache_dir",
    "download",
    "get_resource",
    "register",
    "verify",
]

#: Environment variable that points the download cache at another folder.
CACHE_VARIABLE = "HDRLAB_CACHE"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Resource:
    """One downloadable file.

    Attributes:
        name: registry key, e.g. ``"hdr_eye"``.
        urls: mirrors, tried in order (a list is converted to a tuple).
        sha256: expected SHA-256 of the file, 64 hex digits (case-insensitive).
        size: expected size in bytes.
        licence: licence of the file's content, e.g. ``"CC BY 4.0"``.
        filename: name of the file in the destination folder.
        manual: one paragraph: how to get the file by hand and where to put it.

    Raises:
        ChoiceError: on an empty name, no URLs, a malformed checksum, a negative
            size or a filename with a folder in it.

    Example:
        >>> r = Resource("demo", ("http://127.0.0.1:1/demo.bin",), "0" * 64, 3, "CC0", "demo.bin", "Copy it.")
        >>> r.urls
        ('http://127.0.0.1:1/demo.bin',)
    """

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    licence: str
    filename: str
    manual: str

    def __post_init__(self) -> None:
        urls = (self.urls,) if isinstance(self.urls, str) else tuple(self.urls)
        object.__setattr__(self, "urls", urls)
        object.__setattr__(self, "sha256", str(self.sha256).lower())
        if not self.name:
            raise ChoiceError(describe("a non-empty resource name", repr(self.name), "Name the resource."))
        if not urls:
            raise ChoiceError(describe("at least one URL", "none", f"Give resource {self.name!r} a URL."))
        if not _SHA256.match(self.sha256):
            raise ChoiceError(
                describe("a SHA-256 of 64 hex digits", repr(self.sha256), "Copy the checksum from the dataset's page.")
            )
        if int(self.size) < 0:
            raise ChoiceError(describe("a size >= 0 bytes", str(self.size), "Give the file's size in bytes."))
        if not self.filename or Path(self.filename).name != self.filename:
            raise ChoiceError(
                describe("a bare file name", repr(self.filename), "Give the file name only, without folders.")
            )


#: Known resources by name. Empty until verified entries are registered.
REGISTRY: dict[str, Resource] = {}


def register(resource: Resource) -> Resource:
    """Add a resource to :data:`REGISTRY`.

    Args:
        resource: the resource to add.

    Returns:
        The same resource.

    Raises:
        ChoiceError: if a resource of that name is already registered.

    Example:
        >>> r = register(Resource("doc_demo", ("http://127.0.0.1:1/a",), "0" * 64, 1, "CC0", "a", "Copy it."))
        >>> get_resource("doc_demo") is r
        True
        >>> del REGISTRY["doc_demo"]
    """
    if resource.name in REGISTRY:
        raise ChoiceError(
            describe(
                "a new resource name",
                f"{resource.name!r}, which is already registered",
                "Pick another name, or use the registered entry.",
            )
        )
    REGISTRY[resource.name] = resource
    return resource


def get_resource(name: str) -> Resource:
    """Look a resource up by name.

    Args:
        name: a key of :data:`REGISTRY`.

    Returns:
        The registered :class:`Resource`.

    Raises:
        ChoiceError: if the name is unknown; the message lists the known names.

    Example:
        >>> try:
        ...     get_resource("no_such_dataset")
        ... except ChoiceError as err:
        ...     print(type(err).__name__)
        ChoiceError
    """
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none registered yet"
        raise ChoiceError(
            describe(f"one of the registered resources ({known})", repr(name), "Check the name or register it.")
        ) from None


def cache_dir() -> Path:
    """Folder where downloads go by default.

    Returns:
        ``$HDRLAB_CACHE`` when set and non-empty, else ``~/.cache/hdrlab``. The
        folder is not created here.

    Example:
        >>> isinstance(cache_dir(), Path)
        True
    """
    value = os.environ.get(CACHE_VARIABLE)
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "hdrlab"


def verify(path: str | os.PathLike, sha256: str, *, chunk_size: int = 1 << 20) -> bool:
    """Check a file's SHA-256, reading it in chunks.

    Args:
        path: the file to hash.
        sha256: the expected digest, 64 hex digits (case-insensitive).
        chunk_size: bytes read at a time.

    Returns:
        ``True`` if the digest matches, ``False`` otherwise.

    Raises:
        MissingFileError: if ``path`` is not a file.

    Example:
        >>> import hashlib, pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
        >>> _ = p.write_bytes(b"hdr")
        >>> verify(p, hashlib.sha256(b"hdr").hexdigest()), verify(p, "0" * 64)
        (True, False)
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(describe("an existing file", str(path), "Download the file first."))
    return _sha256_of(path, chunk_size) == str(sha256).lower()


def _sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fetch(url: str, part: Path, resource: Resource, timeout: float, chunk_size: int, session) -> None:
    """Bring ``part`` to the full file from ``url``, resuming if possible. Raises on failure."""
    import requests

    have = part.stat().st_size if part.exists() else 0
    if have > resource.size:
        _unlink(part)
        have = 0
    if have and have == resource.size:
        return  # complete from an earlier try; the caller checks it
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
            if have and response.status_code == 206:
                mode = "ab"
                match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != have:
                    raise OSError(f"server resumed at the wrong offset ({response.headers.get('Content-Range')!r})")
            elif response.status_code == 200:
                mode = "wb"  # no range support (or a fresh start): restart from zero
                have = 0
            elif have and response.status_code == 416:
                _unlink(part)
                raise OSError("server refused to resume (HTTP 416); partial file removed")
            else:
                raise OSError(f"HTTP {response.status_code} {response.reason or ''}".strip())
            with open(part, mode) as f:
                try:
                    for chunk in response.iter_content(chunk_size=chunk_size):
                        if not chunk:
                            continue
                        have += len(chunk)
                        if have > resource.size:
                            raise OSError(f"server sent more than the expected {resource.size} bytes")
                        f.write(chunk)
                finally:
                    f.flush()
                    os.fsync(f.fileno())
    except requests.RequestException as err:
        raise OSError(f"{type(err).__name__}: {err}") from err
    if have > resource.size:
        _unlink(part)
        raise OSError(f"server sent more than the expected {resource.size} bytes; partial file removed")


def _attempt(url: str, part: Path, resource: Resource, timeout: float, chunk_size: int, session) -> str | None:
    """One try of ``url``: None when ``part`` now holds the verified file, else why it does not."""
    try:
        _fetch(url, part, resource, timeout, chunk_size, session)
    except OSError as err:
        kept = part.exists() and part.stat().st_size > 0
        return f"{err} (partial file kept for resume: {part})" if kept else str(err)
    got = part.stat().st_size
    if got != resource.size:
        return f"incomplete, {got} of {resource.size} bytes (partial file kept for resume: {part})"
    actual = _sha256_of(part, chunk_size)
    if actual != resource.sha256:
        _unlink(part)
        return f"checksum mismatch (sha256 {actual}, expected {resource.sha256})"
    return None


def _holds(handle, path: Path) -> bool:
    """True when the open ``handle`` is still the file at ``path`` (not removed or replaced meanwhile)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _exclusive(final: Path, resource: Resource) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<final>.lock`` (created here, removed on exit) while the body runs.

    A process that has to wait says so. The holder removes the lock file before it lets go, so a
    waiter that then gets the lock on the removed file tries again on the one now at that path.
    """
    lock = final.with_name(final.name + ".lock")
    try:
        import fcntl
    except ImportError:
        raise ChoiceError(
            describe(
                "a POSIX system (Linux, macOS, Colab) for downloads, whose file locks keep processes apart",
                f"platform {sys.platform} without the fcntl module",
                f"Download on Linux or Colab, or get the file by hand: {resource.manual}",
            )
        ) from None
    while True:
        try:
            handle = open(lock, "ab")
        except OSError as err:
            raise DownloadError(
                describe(
                    f"a writable folder for {resource.filename} and its lock file", f"{type(err).__name__}: {err}",
                    f"Point dest_dir (or {CACHE_VARIABLE}) at a writable folder, or get the file by hand: "
                    f"{resource.manual} Put it at {final}.",
                )
            ) from err
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"Waiting for another process that is downloading {resource.filename} (lock {lock}) ...",
                      flush=True)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if _holds(handle, lock):
                break
        except BaseException:
            handle.close()
            raise
        handle.close()
    try:
        yield
    finally:
        _unlink(lock)
        handle.close()


def download(
    resource_or_name: Resource | str,
    dest_dir: str | os.PathLike | None = None,
    *,
    timeout: float = 30.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download a resource, check it, and return its path.

    If the final file already exists with the right SHA-256 it is returned
    without touching the network. Otherwise each URL is tried in order: the
    bytes go to ``<file>.part`` (resumed with ``Range: bytes=N-`` when a
    partial file exists and the server answers 206; restarted from zero when
    it answers 200), the size and SHA-256 are checked, and the file is moved
    into place with :func:`os.replace`. A ``.part`` with the wrong checksum is
    deleted; when it held bytes from before this URL's try (a stale ``.part``
    of an earlier call, or bytes of a previous mirror) the same URL is tried
    once more from byte zero, else the next URL is. An interrupted ``.part`` is
    kept so the next call can resume. An existing final file with the wrong
    checksum is deleted. Processes that download the same file at the same
    time take turns through an exclusive lock on ``<file>.lock``; one that
    waited returns the file the other verified.

    Args:
        resource_or_name: a :class:`Resource` or the name of a registered one.
        dest_dir: destination folder; defaults to :func:`cache_dir`. Created if needed.
        timeout: seconds to wait for a connection or for data.
        chunk_size: bytes written at a time; on an interrupted transfer the bytes
            of the unfinished chunk are lost and fetched again on resume.

    Returns:
        Path of the verified file, ``dest_dir / resource.filename``.

    Raises:
        ChoiceError: if a name is not registered; on a system without POSIX file
            locks (``fcntl``) when the file has to be fetched.
        DownloadError: if every URL failed; the message names the resource,
            each URL's reason and the manual route (``resource.manual``). Also
            when the lock file cannot be created in ``dest_dir``.

    Example:
        >>> import hashlib, pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.bin").write_bytes(b"abc")
        >>> r = Resource("a", ("http://127.0.0.1:1/a.bin",), hashlib.sha256(b"abc").hexdigest(), 3,
        ...              "CC0", "a.bin", "Copy a.bin by hand.")
        >>> download(r, folder) == folder / "a.bin"  # already there and verified: no network
        True
    """
    resource = get_resource(resource_or_name) if isinstance(resource_or_name, str) else resource_or_name
    folder = Path(dest_dir).expanduser() if dest_dir is not None else cache_dir()
    final = folder / resource.filename
    if final.is_file() and verify(final, resource.sha256, chunk_size=chunk_size):
        return final  # without a lock, so a read-only cache folder works
    folder.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")

    import requests

    failures: list[str] = []
    with _exclusive(final, resource):
        if final.is_file():
            if verify(final, resource.sha256, chunk_size=chunk_size):
                return final  # another process finished it while this one waited
            _unlink(final)  # never keep a corrupt final file
        with requests.Session() as session:
            for url in resource.urls:
                stale = part.exists() and part.stat().st_size > 0  # bytes from before this try
                failure = _attempt(url, part, resource, timeout, chunk_size, session)
                if failure is not None and stale and not part.exists():  # those bytes were bad and are gone
                    retry = _attempt(url, part, resource, timeout, chunk_size, session)
                    failure = None if retry is None else f"{failure}; retried from byte zero: {retry}"
                if failure is None:
                    os.replace(part, final)
                    return final
                failures.append(f"{url}: {failure}")

    reasons = "\n".join(f"  - {line}" for line in failures)
    raise DownloadError(
        describe(
            f"{resource.filename} ({resource.size} bytes, sha256 {resource.sha256}) for resource {resource.name!r}",
            f"a failure from every URL:\n{reasons}\n",
            f"Manual route: {resource.manual} Put the file at {final}.",
        )
    )
