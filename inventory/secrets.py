"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with keys from ``TLDOPS_SECRET_KEY``.

Several comma-separated keys may be given; the first encrypts, every key decrypts, so a key can
be rotated by putting the new key first and re-saving the profiles (``rotate``)::

    box = SecretBox.from_settings(Settings.from_env())
    blob = box.seal({"community": "s3cret"})
    box.open(blob)["community"]        # 's3cret'

Generate a key with ``tldops inventory secret-key``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from inventory.config import Settings
from inventory.errors import ConfigError, SecretError


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts and decrypts small JSON secrets."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError(
                "Chưa đặt khóa mã hóa TLDOPS_SECRET_KEY / TLDOPS_SECRET_KEY is not set",
                hint="generate one with `tldops inventory secret-key` and export it",
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError) as exc:
            raise ConfigError(
                "TLDOPS_SECRET_KEY không hợp lệ / TLDOPS_SECRET_KEY is not a valid Fernet key",
                hint="a key is 32 url-safe base64-encoded bytes; generate with "
                "`tldops inventory secret-key`",
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.secret_keys)

    def seal(self, secret: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(secret, sort_keys=True).encode("utf-8"))

    def open(self, blob: bytes) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise SecretError(
                "Không giải mã được bí mật / cannot decrypt a stored secret",
                hint="the secret was sealed with a key that is not in TLDOPS_SECRET_KEY",
            ) from exc
        return data

    def rotate(self, blob: bytes) -> bytes:
        """Re-encrypt ``blob`` under the first (newest) key."""
        try:
            return self._fernet.rotate(blob)
        except InvalidToken as exc:
            raise SecretError("cannot rotate a secret sealed with an unknown key") from exc


SECRET_KEY_ENV = "TLDOPS_SECRET_KEY"
SECRET_KEY_FILE = "secret.key"


def load_secret_key(var_dir: Path | str, *, create: bool) -> str | None:
    """The secret key the way every tldops entry point finds it.

    ``TLDOPS_SECRET_KEY`` if set; else the key in ``<var_dir>/secret.key`` (``tldops up`` writes
    it, 0600); with ``create`` a missing file is made with a new key. A key read from the file
    is put in ``os.environ`` so everything in this process (and its children) sees the same
    key. Returns None when there is no key and ``create`` is False.

    Raises :class:`ConfigError` when the file exists but is unreadable, empty or readable by
    other users.
    """
    from_env = os.environ.get(SECRET_KEY_ENV, "").strip()
    if from_env:
        return from_env
    path = Path(var_dir) / SECRET_KEY_FILE
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(generate_key() + "\n")
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            if not create:
                raise ConfigError(
                    f"Tệp khóa {path} đọc được bởi người khác / {path} is readable by others "
                    f"(mode {mode:o})",
                    hint=f"chmod 600 {path}",
                )
            os.chmod(path, 0o600)
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Không đọc được {path} / cannot read {path}: {exc}") from exc
    if not key:
        raise ConfigError(
            f"Tệp khóa {path} rỗng / {path} is empty",
            hint="restore the key from a backup; a new key cannot open stored profiles",
        )
    os.environ[SECRET_KEY_ENV] = key
    return key


def credential_env_var(profile_name: str, field: str) -> str:
    """Environment variable through which a decrypted secret reaches Ansible or a subprocess.

    Inventories and artifacts carry only ``{{ lookup('ansible.builtin.env', NAME) }}``; the runner
    sets ``NAME`` in the child's environment, so the secret never touches disk.

    >>> credential_env_var("ssh-hn office", "password")
    'TLDOPS_CRED_SSH_HN_OFFICE_PASSWORD'
    """
    import re

    stem = re.sub(r"[^A-Za-z0-9]+", "_", profile_name).strip("_").upper()
    return f"TLDOPS_CRED_{stem}_{field.upper()}"
