"""`run` says what it looked for: with no `inbox:` it said "Ingested 0 new files" as if it had
looked and found nothing; a `.csv.gz` or `.tsv` export in the inbox, which `ingest` reads, was
passed over in silence; a file it cannot read was too (issue-qab)."""
from __future__ import annotations

import gzip


def _add(project_dir, text: str) -> None:
    config = project_dir / "ctxmetrics.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


ROWS = "date,metric,value,region,channel\n2026-02-{day:02d},leads,40,EMEA,paid\n"


def test_run_without_an_inbox_says_none_is_set_and_how(project_dir, run):
    result = run("run")
    assert "Ingested 0 new files" not in result.stdout
    assert result.stdout.startswith("No inbox folder is set, so nothing was ingested; list the folders of new exports "
                                    "under 'inbox:' in ctxmetrics.yaml")


def test_run_reads_every_file_type_ingest_reads_and_names_what_it_skips(project_dir, run):
    inbox = project_dir / "exports"
    inbox.mkdir()
    (inbox / "a.csv").write_text(ROWS.format(day=1), encoding="utf-8")
    (inbox / "b.tsv").write_text(ROWS.format(day=2).replace(",", "\t"), encoding="utf-8")
    (inbox / "c.csv.gz").write_bytes(gzip.compress(ROWS.format(day=3).encode()))
    (inbox / "notes.docx").write_bytes(b"PK")
    _add(project_dir, "inbox: [exports]\n")
    first = run("run")
    assert "Ingested 3 new files (3 rows)." in first.stdout, first.output
    assert "exports/notes.docx: not a data file ctxmetrics reads; left where it is." in first.stdout
    second = run("run")
    assert "Ingested 0 new files (0 rows) from exports (3 files ingested before)." in second.stdout, second.output
