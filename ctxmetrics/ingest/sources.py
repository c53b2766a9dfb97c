"""Finding and reading the data files: paths checked before the write lock, CSV (its
separator, UTF-16, old Mac line ends), Parquet and JSON lines read into a frame, and the
line a reader choked on named in plain words. An Excel workbook's sheet is read as the CSV
text saving it as CSV would give (`excel.py`). A `.json` file is read as an array of
records (what `json.dump` of a list of dicts and most web APIs write) or, when it does not
start with `[`, as JSON lines."""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import stat
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import polars as pl

from ctxmetrics.errors import InputError

READERS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "excel", ".xlsm": "excel", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
}
ROW = "__row"
MAX_TITLE_LINES = 5  # lines above a CSV header that may be a report's title
# A spreadsheet's last row that sums the others ('Total;;12.345'): not a day of data.
TOTAL_LABELS = frozenset({"total", "totals", "grand total", "sum", "summe", "gesamt", "totaal", "totale"})
# A report's row that sums the group above it (Salesforce's 'Subtotal' after each region), anywhere.
SUBTOTAL_LABELS = frozenset({"subtotal", "sub-total", "sub total", "zwischensumme", "sous-total", "subtotaal"})


@dataclass(frozen=True)
class _Source:
    path: Path
    kind: str  # csv | excel | parquet | jsonl | json (an array of records: rows are its records) | sql
    titles: int = 0  # CSV and Excel: lines above the header (a report's title), skipped
    sheet: str | None = None  # Excel: the sheet read
    # Excel: the sheet as CSV, one line per sheet row; a gzip-compressed CSV: its text
    text: bytes = field(default=b"", repr=False, compare=False)
    read_notes: tuple[str, ...] = ()  # Excel: what reading the sheet did (serial numbers read as dates)

    def line(self, row: int) -> int:
        """1-based line (text files; CSV has its header on line 1 + titles; an Excel sheet's
        row alike) or row (Parquet, SQL)."""
        return row + 2 + self.titles if self.kind in ("csv", "excel") else row + 1

    def position(self, row: int) -> str:
        if self.kind == "excel":
            return f"row {self.line(row)} of sheet '{self.sheet}'"
        return f"line {self.line(row)}" if self.kind in ("csv", "jsonl") else f"row {self.line(row)}"

    def where(self, row: int | None = None, column: str | None = None) -> str:
        """`file:line` for text files, `file: row N` for Parquet, `file: sheet 'S' row N`
        for Excel, plus the column."""
        text = str(self.path) + (f": sheet '{self.sheet}'" if self.kind == "excel" else "")
        if row is not None:
            text += f":{self.line(row)}" if self.kind in ("csv", "jsonl") else f": row {self.line(row)}"
        if column is not None:
            text += f": column '{column}'"
        return text


SPREADSHEETS = (".xls", ".ods", ".numbers")  # workbooks openpyxl does not read: refused with what to do instead


def check_files(paths: Sequence[Path | str | _Source], sheet: str | None = None) -> list[_Source]:
    """Check that every path is a readable regular file of a known type, without reading it
    (a FIFO would block): done before the store's write lock is taken. An Excel workbook's
    sheet (`sheet`, else its first) and a gzip-compressed CSV are read here, to find the
    header; sources this returned before are passed through, so they are not read twice.

    Raises:
        InputError: the first path that is not.
    """
    return [p if isinstance(p, _Source) else _source(Path(p), sheet) for p in paths]


def _source(path: Path, sheet: str | None = None) -> _Source:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a folder; name the data files.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: is not a regular file (a pipe, device or socket); name a data file.")
    if path.suffix.lower() == ".gz":
        return _gzip_source(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None and path.suffix.lower() in SPREADSHEETS:
        raise InputError(
            f"{path}: a {path.suffix} workbook, which ctxmetrics does not read: save the sheet as .xlsx or as CSV "
            "(File > Save As or Download > CSV) and pass that file."
        )
    if kind is None:
        raise InputError(
            f"{path}: unknown file type '{path.suffix or '(none)'}'; use .csv (.tsv, .txt; gzip-compressed too: "
            ".csv.gz), .xlsx, .parquet, .json or .jsonl/.ndjson."
        )
    try:
        path.open("rb").close()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}).") from None
    if kind == "json" and not _json_array(path):
        kind = "jsonl"  # a .json file of one object per line, or one object (refused when read)
    if kind == "csv":
        return _Source(path, kind, _title_lines(_csv_head(_Source(path, kind))))
    if kind == "excel":
        from ctxmetrics.ingest.excel import sheet_text  # openpyxl: only when a workbook is read

        read = sheet_text(path, sheet)
        return _Source(path, kind, read.header, sheet=read.name, text=read.text, read_notes=tuple(read.notes))
    return _Source(path, kind)


def _gzip_source(path: Path) -> _Source:
    """A gzip-compressed CSV file (`leads.csv.gz`, as warehouses and S3 exports write
    them): read as its text, decompressed here."""
    if Path(path.stem).suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise InputError(f"{path}: a gzip-compressed file is read when it holds CSV (name it .csv.gz); decompress it first.")
    try:
        text = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cannot be decompressed as gzip ({exc}).") from None
    src = _Source(path, "csv", text=text)
    return replace(src, titles=_title_lines(_csv_head(src)))


def _title_lines(head: bytes) -> int:
    """How many lines above the header are a report's title, not the table: CRM and BI
    exports write `Leads report, exported ...` first, Excel a `sep=;` line. Only such a line
    and lines with no separator at all (nor a comma, semicolon or tab) count, and only
    above a line that has one, so a one-column file and a header are never taken for titles."""
    lines = head.split(b"\n")
    # Comment lines first (`# Start date: 20260101`, as Google Analytics writes them), and the
    # blank lines between them, however many: they may hold commas and are never the header.
    comments = next((i for i, line in enumerate(lines) if not re.match(rb"#|\s*$", line)), 0)
    lines = lines[comments:comments + MAX_TITLE_LINES + 2]
    for number, line in enumerate(lines[:MAX_TITLE_LINES + 1]):
        if re.fullmatch(rb"sep=.", line):  # Excel's line naming the separator: the header follows
            continue
        if any(sep in line for sep in (b",", b";", b"\t")) and not _title_in_cells(line, lines[number + 1:number + 2]):
            return comments + number
    return 0


def _title_in_cells(line: bytes, below: list[bytes]) -> bool:
    """A title written with the sheet's separators (`Leads report,,,`, as Excel saves a
    title cell above the table): one filled cell, above a line with two or more."""
    if not below:
        return False
    separator = _separator(line)
    filled = [_filled_cells(text, separator) for text in (line, below[0])]
    return filled[0] == 1 and filled[1] >= 2


def _filled_cells(line: bytes, separator: str) -> int:
    cells = next(csv.reader([line.decode("utf-8", errors="replace")], delimiter=separator), [])
    return sum(1 for cell in cells if cell.strip())


def _csv_head(src: _Source) -> bytes:
    """The first 64 KB of a CSV file as UTF-8 with newlines (UTF-16 re-encoded, old Mac
    line ends replaced), for looking at its first lines."""
    if src.text:
        head = src.text[: 1 << 16]
    else:
        with src.path.open("rb") as fh:
            head = fh.read(1 << 16)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head[: len(head) // 2 * 2].decode("utf-16", errors="ignore").encode("utf-8")
    return head.removeprefix(codecs.BOM_UTF8).replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _json_array(path: Path) -> bool:
    """Whether a .json file's first character, after a byte order mark and white space, is `[`."""
    with path.open("rb") as fh:
        head = fh.read(1 << 12).removeprefix(codecs.BOM_UTF8).lstrip()
    return head.startswith(b"[")


def read_table(src: _Source, notes: list[str] | None = None) -> pl.DataFrame:
    """A checked file's rows (CSV as text), with the row number in column ROW.

    A CSV file's report title above the header, its columns with neither a name nor a
    value (a spreadsheet's trailing separators) and a totals row at its end are left
    out, each said in `notes` when given.

    Raises:
        InputError: the file cannot be read or has no data rows.
    """
    try:
        if src.kind in ("csv", "excel"):
            # Everything as text first, so a bad cell is reported with its line, not guessed at.
            text, separator = _csv_input(src)
            frame = pl.read_csv(text, separator=separator, infer_schema=False, row_index_name=ROW, skip_rows=src.titles)
            # 'date , metric , value': spaces around a header's names are not part of them
            frame = frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})
            if frame.width > 1:  # blank lines (an export's last line, a paragraph break) are no rows
                blank = frame.select(pl.all_horizontal(pl.exclude(ROW).is_null())).to_series()
                if blank.any():  # filtering copies every column: only when needed
                    frame = frame.filter(~blank)
                frame = _without_repeated_headers(frame)
                _refuse_second_header(src, frame)
            if notes is not None:
                notes.extend(src.read_notes)
            if src.titles and notes is not None:
                rows = _lines(src.titles).replace("line", "row") if src.kind == "excel" else _lines(src.titles)
                notes.append(f"{src.where()}: {rows} above the header: a title, not data; skipped.")
            frame = _without_unnamed_empty_columns(frame)
            frame = _without_totals_row(src, frame, notes)
            frame = _without_subtotal_rows(src, frame, notes)
            frame = _group_rows_carried(src, frame, notes)
        elif src.kind == "parquet":
            frame = pl.read_parquet(src.path, row_index_name=ROW)
        elif src.kind == "json":
            frame = pl.read_ndjson(_json_records_as_lines(src), infer_schema_length=None).with_row_index(ROW)
        else:
            frame = pl.read_ndjson(_jsonl_input(src.path), infer_schema_length=None).with_row_index(ROW)
    except pl.exceptions.NoDataError:
        frame = pl.DataFrame()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if src.kind == "jsonl":
            _explain_jsonl(src)
        if src.kind == "csv":
            _explain_csv(src)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.path}: cannot be read as {src.kind} ({message}).") from None
    if frame.height == 0:
        raise InputError(f"{src.path}: the file has no data rows.")
    if src.kind == "jsonl" and frame.height == 1:
        _refuse_wrapped_records(src, frame)
    return frame


def _refuse_wrapped_records(src: _Source, frame: pl.DataFrame) -> None:
    """One JSON object whose key holds the records (`{"data": [{...}, ...]}`, as many APIs
    answer) would read as one row with a nested column: say which key holds them."""
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
            raise InputError(
                f"{src.path}: one JSON object whose '{name}' holds the records; "
                "save that list alone (a JSON array of records) or as JSON lines."
            )


def _lines(count: int) -> str:
    return "line 1 is" if count == 1 else f"lines 1-{count} are"


def _without_unnamed_empty_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns but those with no name and no value: separators a spreadsheet leaves at
    the end of each line (`date,leads,,,`). polars names the second such column
    `_duplicated_0`; a nameless column with values stays, for the header check to refuse."""
    unnamed = [c for c in frame.columns if c.strip() == "" or re.fullmatch(r"_duplicated_\d+", c)]
    empty = [c for c in unnamed if frame[c].str.strip_chars().fill_null("").eq("").all()]
    return frame.drop(empty) if empty else frame


def _without_totals_row(src: _Source, frame: pl.DataFrame, notes: list[str] | None) -> pl.DataFrame:
    """The rows but the last ones whose first filled cell is a label such as 'Total': a
    spreadsheet's sums of the rows above them (a 'Grand Total' of each column, a second one
    of a count), which stored as days would count them twice."""
    said: list[str] = []
    while frame.height:
        last = [frame[c][-1] for c in frame.columns if c != ROW]
        first = next((cell.strip() for cell in last if cell is not None and cell.strip()), "")
        if first.rstrip(":").strip().lower() not in TOTAL_LABELS:
            break
        said.insert(0, f"{src.where(int(frame[ROW][-1]))}: '{first}' is a totals row, not data; skipped.")
        frame = frame.head(-1)
    if notes is not None:
        notes += said
    return frame


def _refuse_second_header(src: _Source, frame: pl.DataFrame) -> None:
    """A first row of labels only (two or more cells, no digit in any) above rows with
    numbers is a second header row, as Excel and Sheets reports write one: units under the
    header (`(day),count,EUR`), or the real header under a group row (`Daily figures,
    Leads,Revenue`). Refused naming the line to delete: read as data it would be a bad
    date, and a guess of which row holds the names could read the wrong ones."""
    from ctxmetrics.ingest.columns import DATE_NAMES  # columns imports this module

    if frame.height < 2:
        return
    cells = [frame[c][0] for c in frame.columns if c != ROW]
    filled = [cell.strip() for cell in cells if cell is not None and cell.strip()]
    below = [frame[c][1] for c in frame.columns if c != ROW]
    if len(filled) < 2 or any(re.search(r"\d", cell) for cell in filled):
        return
    if not any(cell is not None and re.search(r"\d", cell) for cell in below):
        return
    header, line = 1 + src.titles, src.line(int(frame[ROW][0]))
    quoted = ", ".join(repr(cell) for cell in filled)
    names = {c.strip().lower() for c in frame.columns}
    if {cell.lower() for cell in filled} & set(DATE_NAMES) and not names & set(DATE_NAMES):
        raise InputError(
            f"{src.path}:{line}: the header ({quoted}) is below line {header} (a title or group row): delete line {header}."
        )
    raise InputError(
        f"{src.path}:{line}: a second header row ({quoted}: units or labels), not data; "
        f"delete line {line}, keeping the header on line {header}."
    )


def _without_subtotal_rows(src: _Source, frame: pl.DataFrame, notes: list[str] | None) -> pl.DataFrame:
    """The rows but those whose first filled cell is a subtotal label: a report grouped by
    region sums each group below it, and stored as data those sums would count it twice."""
    names = [c for c in frame.columns if c != ROW]
    if frame.height == 0 or not names:
        return frame
    first = pl.coalesce([pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c).str.strip_chars()) for c in names])
    label = frame.select(first.str.to_lowercase().str.strip_chars_end(":").is_in(list(SUBTOTAL_LABELS))).to_series()
    if not label.fill_null(False).any():
        return frame
    label = label.fill_null(False)
    if notes is not None:
        lines = [src.line(int(r)) for r in frame[ROW].filter(label)]
        word = frame.select(first).to_series().filter(label)[0]
        where = f"lines {', '.join(map(str, lines[:-1]))} and {lines[-1]} are subtotal rows" if len(lines) > 1 else (
            f"line {lines[0]} is a subtotal row")
        notes.append(f"{src.path}: {where} ('{word}'), not data; skipped.")
    return frame.filter(~label)


# A report's group row, alone on its line above the group's rows: `Region: EMEA (12 records)`
# (Salesforce's printable view), or `EMEA (12 records)`.
_GROUP_ROW = re.compile(r"^(?:(?P<name>[A-Za-z][A-Za-z _-]*?)\s*:\s*)?(?P<value>[^:]+?)(?P<count>\s*\(\d[\d,.]*\s+records?\))?$")


def _group_rows_carried(src: _Source, frame: pl.DataFrame, notes: list[str] | None) -> pl.DataFrame:
    """The rows but a grouped report's group rows (one filled cell, `Region: EMEA (12
    records)`), whose value is carried into the rows below them as the column the row
    names (`Region`, added when the file lacks it or left empty there): the segment each
    row belongs to. A group row naming no column, or one the rows fill already, is
    skipped. Either is said."""
    names = [c for c in frame.columns if c != ROW]
    if frame.height == 0 or len(names) < 2:
        return frame
    filled = frame.select(pl.sum_horizontal(pl.col(c).str.strip_chars().fill_null("") != "" for c in names)).to_series()
    first = frame.select(pl.coalesce(pl.col(c).str.strip_chars().replace("", None) for c in names)).to_series()
    groups = [(i, _GROUP_ROW.match(first[i] or "")) for i in (filled == 1).arg_true().to_list()]
    groups = [(i, m) for i, m in groups if m is not None and (m["name"] or m["count"])]
    if not groups:
        return frame
    column = groups[0][1]["name"]
    carried = (  # a lone `Note: ...` line is no group: a group row counts its records, or groups repeat
        column is not None and all(m["name"] == column for _, m in groups) and (groups[0][1]["count"] or len(groups) > 1)
        and (column not in names or frame[column].str.strip_chars().fill_null("").eq("").all())
    )
    rows = [i for i, _ in groups]
    if carried:
        value = pl.Series([None] * frame.height, dtype=pl.Utf8).scatter(rows, [m["value"].strip() for _, m in groups])
        frame = frame.with_columns(value.forward_fill().alias(column))
    if notes is not None:
        lines = [src.line(int(frame[ROW][i])) for i in rows]
        where = f"lines {', '.join(map(str, lines[:-1]))} and {lines[-1]} are group rows" if len(lines) > 1 else (
            f"line {lines[0]} is a group row")
        what = f"{'their values' if len(lines) > 1 else 'its value'} carried into column '{column}' of the rows below" if carried else "skipped"
        notes.append(f"{src.path}: {where} of a grouped report ('{first[rows[0]]}'), not data: {what}.")
    return frame.filter(~pl.Series(range(frame.height)).is_in(rows))


def _without_repeated_headers(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows but those that repeat the header word for word: exports concatenated
    with `cat` carry each part's header into the middle of the file."""
    names = [c for c in frame.columns if c != ROW]
    repeated = frame.select(pl.all_horizontal(pl.col(c).str.strip_chars() == c for c in names)).to_series()
    return frame.filter(~repeated.fill_null(False)) if repeated.any() else frame


def _csv_input(src: _Source):
    """The file for the CSV reader and its separator. Spreadsheet exports come as they are:
    UTF-16 ("Unicode text") is re-encoded as UTF-8, old Mac line endings (CR only, which
    the reader would take for one long line) become newlines, and a header with no comma
    but semicolons or tabs (European-locale and tab-separated exports) sets the separator.
    An Excel sheet is its CSV text."""
    if src.kind == "excel":
        return io.BytesIO(src.text), ","
    path, titles = src.path, src.titles
    source: Path | io.BytesIO = path
    if src.text:  # decompressed already: the whole text
        head, source = src.text, io.BytesIO(src.text)
    else:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            head = (src.text or path.read_bytes()).decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: starts as UTF-16 text but is not (byte {exc.start + 1}); save it as UTF-8.") from None
        source = io.BytesIO(head)
    if b"\r" in head and b"\n" not in head:
        head = (head if isinstance(source, io.BytesIO) else path.read_bytes()).replace(b"\r", b"\n")
        source = io.BytesIO(head)
    lines = head.split(b"\n", titles + 1)
    return source, _separator(lines[min(titles, len(lines) - 1)])


def semicolon_separated(src: _Source) -> bool:
    """Whether a CSV file is semicolon-separated (European-locale exports, whose numbers
    may carry dots between thousands): its header is read again, a few KB."""
    if src.kind != "csv":
        return False
    lines = _csv_head(src).split(b"\n", src.titles + 1)
    return _separator(lines[min(src.titles, len(lines) - 1)]) == ";"


def _separator(header: bytes) -> str:
    if b"," not in header:
        for candidate in (";", "\t"):
            if candidate.encode() in header:
                return candidate
    return ","


def _explain_csv(src: _Source) -> None:
    """Find the line the CSV reader choked on (not UTF-8, or more fields than the header)
    and say so with its number."""
    data, separator = _csv_input(src)
    raw = data.getvalue() if isinstance(data, io.BytesIO) else src.path.read_bytes()
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{src.path}:{number}: is not UTF-8 text (byte {exc.start + 1} of the line); save the file as UTF-8."
            ) from None
    text = raw.decode("utf-8-sig").split("\n", src.titles)[-1] if src.titles else raw.decode("utf-8-sig")
    rows = csv.reader(io.StringIO(text), delimiter=separator, strict=True)
    width, start = None, 1 + src.titles  # start: the line the record being read begins on
    try:
        for fields in rows:
            if width is None:
                width = len(fields)
            elif len(fields) > width:
                raise InputError(f"{src.path}:{start}: has {len(fields)} fields, the header {width}.")
            start = rows.line_num + 1 + src.titles
    except csv.Error as exc:  # most often a quote opened and never closed: it runs to the end of the file
        raise InputError(f"{src.path}:{start}: not valid CSV ({exc}; is a quote opened on this line never closed?).") from None


def _jsonl_input(path: Path):
    """The path, or its bytes without the UTF-8 byte order mark that Windows tools
    (PowerShell, Notepad) write first, which the JSON reader takes for bad JSON."""
    with path.open("rb") as fh:
        if fh.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            return path
        return io.BytesIO(fh.read())


def _json_records_as_lines(src: _Source) -> io.BytesIO:
    """An array of records checked record by record, as JSON lines for the reader that
    reads .jsonl files, so both kinds of JSON are typed alike.

    Raises:
        InputError: not valid JSON, or an element that is not a flat record (named by row).
    """
    try:
        records = json.loads(src.path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{src.path}: is not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8.") from None
    except ValueError as exc:
        raise InputError(f"{src.path}: not valid JSON ({exc}).") from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(f"{src.path}: row {number}: not a JSON object (a record of column: value).")
        _check_json_values(f"{src.path}: row {number}", record)
    if not records:
        raise InputError(f"{src.path}: the file has no data rows.")
    return io.BytesIO("\n".join(json.dumps(record) for record in records).encode())


def _check_json_values(where: str, record: dict) -> None:
    for key, value in record.items():
        if isinstance(value, bool):
            raise InputError(f"{where}: column '{key}': {json.dumps(value)} is true/false, not a number or label.")
        if isinstance(value, (dict, list)):
            raise InputError(f"{where}: column '{key}': has a nested value (a list or object); flatten the file first.")


def _explain_jsonl(src: _Source) -> None:
    """Find the JSON line the reader choked on and say what is wrong with it in plain words."""
    empty = True
    with src.path.open(encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            empty = False
            try:
                record = json.loads(line)
            except ValueError:
                _refuse_one_object(src)
                raise InputError(f"{src.path}:{number}: not valid JSON.") from None
            if not isinstance(record, dict):
                raise InputError(f"{src.path}:{number}: not a JSON object.")
            _check_json_values(f"{src.path}:{number}", record)
    if empty:  # the reader's "Cannot infer NDJSON types on empty reader" said it in its own terms
        raise InputError(f"{src.path}: the file has no data rows.")


def _refuse_one_object(src: _Source) -> None:
    """A pretty-printed JSON object over many lines is valid JSON, just not records (a
    dataset's metadata with its series inside, as TCPD's files are): say that, not that
    its first line is bad JSON."""
    try:
        whole = json.loads(src.path.read_bytes().decode("utf-8-sig"))
    except ValueError:
        return
    if not isinstance(whole, dict):
        return
    for key, value in whole.items():
        flat = isinstance(value, list) and value and all(
            isinstance(v, dict) and not any(isinstance(x, (dict, list)) for x in v.values()) for v in value
        )
        if flat:
            _refuse_wrapped_records(src, pl.DataFrame({key: [value]}))
    keys = ", ".join(list(whole)[:6]) + (", ..." if len(whole) > 6 else "")
    raise InputError(
        f"{src.path}: one JSON object (keys {keys}), not records; ingest reads an array of records "
        '([{"date": ..., "value": ...}, ...]) or JSON lines: write the series out in that shape.'
    )


def _check_header(src: _Source, columns: list[str]) -> None:
    for name in columns:
        # polars renames a repeated name `x` to `x_duplicated_0`, `x_duplicated_1`, ...
        base, marker, number = name.rpartition("_duplicated_")
        if name == "" or (marker and number.isdigit() and (base in columns or base == "")):
            raise InputError(f"{src.where()}: the header has an empty or repeated column name.")
