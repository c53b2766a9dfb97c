"""The digest of monthly data (qae's left items): its footer said "mean daily volume" of
a metric whose volume is per month, and its header ended on the last month's first day
(2025-12-01) though that row stands for all of December."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np

from test_quarterly import invoke


def _monthly_csv(path) -> None:
    noise = np.random.default_rng(3).normal(0, 2000, 36)
    lines = ["month,revenue"]
    for i in range(36):
        year, month = 2023 + i // 12, i % 12 + 1
        lines.append(f"{year}-{month:02d},{int((130000 if i >= 30 else 100000) + noise[i])}")
    path.write_text("\n".join(lines) + "\n")


def test_a_monthly_digest_names_the_months_end_and_a_monthly_volume(tmp_path):
    data, root = tmp_path / "monthly.csv", tmp_path / "p"
    _monthly_csv(data)
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    markdown = invoke("--project", root, "digest").output
    assert markdown.startswith("# ctxmetrics digest: 2023-01-01 to 2025-12-31\n"), markdown
    assert "ln(1 + mean monthly volume)" in markdown and "daily" not in markdown, markdown
    html = invoke("--project", root, "digest", "--format", "html").output
    assert "ln(1 + mean monthly volume)" in html, html
    assert json.loads(invoke("--project", root, "digest", "--format", "json").output)["data_range"] == [
        "2023-01-01", "2025-12-31"]
    # a day inside the last month is inside the data
    assert "Revenue total +27% since Jul 1, 2025" in invoke("--project", root, "why", "revenue", "--since", str(dt.date(2025, 12, 10))).output


def test_the_ranking_names_each_period_its_flags_are_kept_in():
    from ctxmetrics.wording import ranking_note

    assert ranking_note(["day", "day"]) == "Ranking: importance = score × ln(1 + mean daily volume)."
    assert ranking_note([]) == ranking_note(["day"])  # no flag: the daily wording, as before
    assert ranking_note(["month", "day", "month"]) == (
        "Ranking: importance = score × ln(1 + mean volume per day or month (each series' own period)).")
