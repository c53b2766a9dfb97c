"""`mute` twice on one target keeps one mute (the later date), and `unmute` without a
target says so in its own words."""
from __future__ import annotations


def test_muting_a_target_again_replaces_its_date(project_dir, run):
    (project_dir / "leads.csv").write_text(
        "date,metric,value,region,channel\n" + "".join(f"2026-01-{d:02d},leads,10,NA,paid\n" for d in range(1, 29)),
        encoding="utf-8",
    )
    assert run("ingest", project_dir / "leads.csv").exit_code == 0
    assert run("mute", "--metric", "leads", "--until", "2099-01-01").exit_code == 0
    again = run("mute", "--metric", "leads", "--until", "2098-06-30")
    assert again.exit_code == 0 and "until 2098-06-30 (was until 2099-01-01)" in again.output, again.output
    listed = run("mute", "--list")
    assert listed.output == "series leads total until 2098-06-30\n", listed.output
    assert run("unmute", "--metric", "leads").exit_code == 0
    assert run("mute", "--list").output == "No mutes in force.\n"


def test_unmute_without_a_target_names_unmute(run):
    result = run("unmute")
    assert result.exit_code == 1 and "say what to unmute" in result.output, result.output
