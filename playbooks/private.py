"""Private files: what runs and backups write is readable by the tldops account only.

Run folders, the config-backup repository and database backups hold device configurations,
inventories and whole databases. Folders are created 0700 and files 0600 explicitly, so the
result does not depend on the process umask (child processes such as ``git`` and ``pg_dump``
are started with :data:`UMASK`).
"""

from __future__ import annotations

import os
from pathlib import Path

UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 folders, whatever the umask.

    Existing parents are left as they are (``var/`` may be shared); ``path`` itself is 0700.
    """
    missing: list[Path] = []
    cur = path
    for _ in range(64):  # bounded: no path is that deep
        if cur.exists() or cur == cur.parent:
            break
        missing.append(cur)
        cur = cur.parent
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
        os.chmod(p, 0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` as a 0600 file (created that way, not chmod-ed after the fact)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def lock_down(root: Path) -> None:
    """0700 on every folder and 0600 on every file under ``root`` (symlinks left alone).

    Files already stricter (git's read-only objects, 0400) keep their mode.
    """
    if not root.exists():
        return
    os.chmod(root, 0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                os.chmod(p, 0o700)
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            mode = p.stat().st_mode & 0o777
            os.chmod(p, mode & 0o700 if mode & 0o700 else 0o600)
