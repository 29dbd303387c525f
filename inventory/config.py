"""Settings read from the environment, in one place.

``TLDOPS_DATABASE_URL``  SQLAlchemy URL; default ``sqlite:///var/tldops.db`` (embedded, WAL)
``TLDOPS_SECRET_KEY``    one or more comma-separated Fernet keys; the first encrypts, all decrypt
``TLDOPS_VAR_DIR``       where runtime files live (database, artifacts, backups); default ``var``
``TLDOPS_LANG``          ``vi`` (default) or ``en`` for messages that are not bilingual
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Settings:
    database_url: str
    var_dir: Path
    secret_keys: tuple[str, ...]
    lang: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default: ``os.environ``).

        >>> Settings.from_env({"TLDOPS_VAR_DIR": "/tmp/x"}).database_url
        'sqlite:////tmp/x/tldops.db'
        """
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("TLDOPS_VAR_DIR", "var"))
        url = env.get("TLDOPS_DATABASE_URL") or f"sqlite:///{var_dir / 'tldops.db'}"
        keys = tuple(k.strip() for k in env.get("TLDOPS_SECRET_KEY", "").split(",") if k.strip())
        lang = env.get("TLDOPS_LANG", "vi")
        return cls(database_url=url, var_dir=var_dir, secret_keys=keys, lang=lang)
