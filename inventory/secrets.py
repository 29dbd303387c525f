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
from collections.abc import Sequence
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
