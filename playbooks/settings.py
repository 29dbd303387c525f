"""Where the playbooks domain keeps its files, derived from :class:`inventory.config.Settings`.

``<var>/runs/<id>/``        ansible-runner folder of each run
``<var>/configs/``          git repository of device configurations
``<var>/known_hosts``       SSH host keys of devices (strict checking for config backup)
``<var>/backups/db/``       database backups (retention ``TLDOPS_DB_BACKUP_KEEP``, default 14)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from inventory.config import Settings


@dataclass(frozen=True)
class PlaybookPaths:
    runs_dir: Path
    config_repo: Path
    known_hosts: Path
    db_backup_dir: Path
    db_backup_keep: int

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: dict[str, str] | None = None
    ) -> PlaybookPaths:
        """>>> PlaybookPaths.from_settings(Settings.from_env({"TLDOPS_VAR_DIR": "/x"})).runs_dir
        PosixPath('/x/runs')
        """
        env = os.environ if environ is None else environ
        var = settings.var_dir
        return cls(
            runs_dir=var / "runs",
            config_repo=var / "configs",
            known_hosts=var / "known_hosts",
            db_backup_dir=var / "backups" / "db",
            db_backup_keep=int(env.get("TLDOPS_DB_BACKUP_KEEP", "14")),
        )
