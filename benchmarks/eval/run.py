"""Running the detector over cases and tallying the results."""
from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.eval.cases import Case
from benchmarks.eval.detector import Detector
from benchmarks.eval.scoring import Tally, match, tally_case


@dataclass
class Outcome:
    """What the detector did on one case: its detections, or the error it raised."""

    case: Case
    detections: list = field(default_factory=list)
    error: str | None = None

    @property
    def starts(self) -> list[tuple[int, str]]:
        return [(int(c.start), str(c.direction)) for c in self.detections]

    def tally(self) -> Tally:
        gaps = set(self.case.gaps.tolist())
        tally = tally_case(list(self.case.planted), self.starts, self.case.tolerance, self.case.years, gaps)
        tally.errors = int(self.error is not None)
        return tally

    def found_labels(self) -> list[str]:
        """Labels of the planted changes that a detection matched."""
        pairs = match(list(self.case.planted), self.starts, self.case.tolerance)
        return [self.case.planted[i].label for i, _ in pairs]


def documented_result(outcome: Outcome) -> dict:
    """Recall of a real series' documented events (other detections are not judged)."""
    found = outcome.found_labels()
    return {"series": outcome.case.name, "documented": len(outcome.case.planted), "found": found,
            "missed": [p.label for p in outcome.case.planted if p.label not in found],
            "detections": len(outcome.detections), "error": outcome.error}


def documented_line(result: dict) -> str:
    """One printed line for a `documented_result`."""
    return (f"  {result['series']}: found {len(result['found'])}/{result['documented']} documented "
            f"(missed: {', '.join(result['missed']) or 'none'}); {result['detections']} detections"
            + (f"; ERROR {result['error']}" if result["error"] else ""))


def run_case(detector: Detector, case: Case) -> Outcome:
    """Run the detector on one case; an exception is recorded, never raised."""
    try:
        return Outcome(case, list(detector.run(case)))
    except Exception as exc:  # noqa: BLE001 - a crash is a result to report, not a stop
        return Outcome(case, [], f"{type(exc).__name__}: {exc}")


def tally_cases(detector: Detector, cases: list[Case]) -> tuple[Tally, list[str]]:
    """The summed tally of `cases` and the distinct error messages."""
    total, errors = Tally(), []
    for case in cases:
        outcome = run_case(detector, case)
        total.add(outcome.tally())
        if outcome.error and outcome.error not in errors:
            errors.append(outcome.error)
    return total, errors
