"""Alembic environment shared by all domains (see ``inventory.db.upgrade``)."""

from __future__ import annotations

from alembic import context

from inventory.db import import_all_models, make_engine

config = context.config
target_metadata = import_all_models()

engine = config.attributes.get("engine")
if engine is None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from inventory.config import Settings

        url = Settings.from_env().database_url
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
