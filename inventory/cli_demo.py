"""``tldops inventory demo``: seed a fresh database with the demo federation."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from inventory.config import Settings
from inventory.demo import DEFAULT_SEED, DemoSize, seed_demo
from inventory.runtime import console, get_engine
from inventory.secrets import SecretBox

STAGES = {
    "units": "Cây tổ chức / organisation tree",
    "assets": "Cán bộ, thiết bị, phần mềm / officers, devices, software",
    "audit": "Nhật ký / audit log",
}


def demo(
    size: Annotated[
        str, typer.Option("--size", help="demo (≈900 units, 10k devices) or large (100k units)")
    ] = "demo",
    seed: Annotated[int, typer.Option("--seed", help="same seed → identical data")] = DEFAULT_SEED,
) -> None:
    """Tạo dữ liệu mẫu / seed a realistic demo federation into an EMPTY database.

    Needs TLDOPS_SECRET_KEY (credential profiles are encrypted); generate one with
    `tldops inventory secret-key`. Use a fresh database, e.g.
    `TLDOPS_DATABASE_URL=sqlite:///var/demo.db tldops inventory demo`.
    """
    if size not in ("demo", "large"):
        raise typer.BadParameter("size must be 'demo' or 'large'", param_hint="--size")
    chosen: DemoSize = "large" if size == "large" else "demo"
    # Fail on a missing key before the database file is even created.
    SecretBox.from_settings(Settings.from_env())
    engine = get_engine()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = int(bar.add_task(STAGES.get(stage, stage), total=total))
            bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        summary = seed_demo(engine, size=chosen, seed=seed, progress=progress)
    table = Table(
        "bảng / table", "số dòng / rows", title=f"Dữ liệu mẫu / demo ({size}, seed {seed})"
    )
    for name, count in summary.counts().items():
        table.add_row(name, f"{count:,}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``tldops inventory`` app."""
    app.command("demo")(demo)
