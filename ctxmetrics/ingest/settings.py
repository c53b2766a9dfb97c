"""How the rows of a call are read: its format, dimensions, column roles and date format,
from the CLI options and the project file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ctxmetrics.config import Config
from ctxmetrics.errors import InputError

FORMATS = ("long", "wide", "events", "records")


@dataclass(frozen=True)
class _Settings:
    """How rows are read, from the CLI options and the project file."""

    fmt: str
    dims: list[str]
    known: list[str]
    columns: dict[str, str]
    metric: str | None
    date_format: str | None
    decimal_comma: bool  # numbers written 1.234,5
    sheet: str | None  # an Excel workbook's sheet (default: its first)
    config: Config


def _settings(
    config: Config | None,
    *,
    fmt: str | None = None,
    dims: Sequence[str] = (),
    known: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    metric: str | None = None,
    date_format: str | None = None,
    decimal_comma: bool = False,
    sheet: str | None = None,
) -> _Settings:
    config = config or Config()
    fmt = fmt or config.file_format
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}.")
    return _Settings(
        fmt=fmt,
        dims=list(dims),
        known=list(config.dimensions if known is None else known),
        columns={**config.columns, **(columns or {})},
        metric=metric,
        date_format=date_format or config.date_format,
        decimal_comma=decimal_comma or config.decimal_comma,
        sheet=sheet or config.sheet,
        config=config,
    )
