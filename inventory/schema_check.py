"""Put back indexes the models declare but the database lacks.

An older import could be killed after dropping the devices' secondary indexes (the drop had
committed on its own), leaving a database where every later bulk import failed. Migrations do
not notice: the revision is current, only the indexes are gone. :func:`repair_schema` compares
each table's indexes in ``Base.metadata`` with the database and creates the missing ones::

    for line in repair_schema(engine):
        print(line)        # "đã tạo lại chỉ mục ... / recreated index ..."

It only ever creates indexes (``CREATE INDEX``, never a drop or an ALTER), so it is safe to run
at every start-up and after every upgrade; on a sound database it does nothing.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from inventory.db import import_all_models

__all__ = ["missing_indexes", "repair_schema"]


def missing_indexes(engine: Engine) -> list[tuple[str, str]]:
    """``(table, index)`` for every index the models declare that the database lacks.

    Tables the database does not have at all are left to the migrations.
    """
    metadata = import_all_models()
    with engine.connect() as conn:
        inspector = inspect(conn)
        tables = set(inspector.get_table_names())
        out: list[tuple[str, str]] = []
        for table in metadata.sorted_tables:
            if table.name not in tables:
                continue
            present = {ix["name"] for ix in inspector.get_indexes(table.name)}
            # A unique index declared on the model may exist as a unique constraint.
            present |= {uq["name"] for uq in inspector.get_unique_constraints(table.name)}
            out += [
                (table.name, str(ix.name))
                for ix in sorted(table.indexes, key=lambda i: str(i.name))
                if ix.name not in present
            ]
    return out


def repair_schema(engine: Engine) -> list[str]:
    """Create every missing index; say what was repaired (bilingual, one line per index).

    >>> repair_schema(engine)                                          # doctest: +SKIP
    ['đã tạo lại chỉ mục ix_devices_unit_kind_status của bảng devices / recreated index
      ix_devices_unit_kind_status on table devices']
    """
    missing = missing_indexes(engine)
    if not missing:
        return []
    metadata = import_all_models()
    repaired: list[str] = []
    with engine.begin() as conn:
        for table_name, index_name in missing:
            index = next(ix for ix in metadata.tables[table_name].indexes if ix.name == index_name)
            index.create(conn, checkfirst=True)
            repaired.append(
                f"đã tạo lại chỉ mục {index_name} của bảng {table_name} / "
                f"recreated index {index_name} on table {table_name}"
            )
    return repaired
