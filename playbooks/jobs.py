"""Entry points for the web app's scheduler (names are a contract with ``ops_cli``).

scheduled_db_backup(engine, clock=lambda: datetime.now(UTC))
scheduled_config_backup(engine, clock=lambda: datetime.now(UTC))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from inventory.config import Settings
from inventory.db import session_scope
from inventory.secrets import SecretBox
from playbooks.configbackup import BackupSettings, ConfigRepo, DeviceBackupResult, backup_configs
from playbooks.databackup import BackupResult, VerifyResult, backup_database, verify_backup
from playbooks.settings import PlaybookPaths


@dataclass(frozen=True)
class DbBackupJobResult:
    backup: BackupResult
    verify: VerifyResult | None


def scheduled_db_backup(
    engine: Engine, *, clock: Callable[[], datetime], settings: Settings | None = None
) -> DbBackupJobResult:
    """Back up the database, apply retention, then verify the new backup by restoring it.

    >>> scheduled_db_backup(engine, clock=lambda: datetime.now(UTC)).backup.ok
    True
    """
    paths = PlaybookPaths.from_settings(settings or Settings.from_env())
    backup = backup_database(
        engine, backup_dir=paths.db_backup_dir, clock=clock, keep=paths.db_backup_keep
    )
    verify = verify_backup(engine, clock=clock, backup_id=backup.backup_id) if backup.ok else None
    return DbBackupJobResult(backup=backup, verify=verify)


def scheduled_config_backup(
    engine: Engine, *, clock: Callable[[], datetime], settings: Settings | None = None
) -> list[DeviceBackupResult]:
    """Fetch every device's configuration into the config repository (see ``configbackup``).

    ``clock`` is accepted for symmetry with the scheduler; rows are stamped when written.
    """
    settings = settings or Settings.from_env()
    paths = PlaybookPaths.from_settings(settings)
    box = SecretBox.from_settings(settings)
    with session_scope(engine) as session:
        return backup_configs(
            session,
            box=box,
            repo=ConfigRepo(paths.config_repo),
            settings=BackupSettings(known_hosts=paths.known_hosts),
        )
