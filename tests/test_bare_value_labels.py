"""A segment value that does not say what it is a value of (a yes/no column such as a
payments export's `Captured`, or a number such as a `Tier`) is read out with its column:
"where: true (91% of the change); false (9% of the change)" left a manager to guess."""
from __future__ import annotations

import datetime as dt

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import segment_label
from ctxmetrics.wording import where_text


def test_yes_no_and_number_values_are_named_by_their_column():
    assert segment_label({"Captured": "true", "Status": "Paid"}) == "Captured=true/Paid"
    assert segment_label({"Tier": "2", "Region": "EMEA"}) == "Tier=2/EMEA"
    assert segment_label({"Region": "EMEA", "channel": "paid"}) == "EMEA/paid"
    assert segment_label({}) == "total"


def test_the_root_cause_line_names_the_column_of_a_yes_no_value():
    anomaly = Anomaly("Amount", {}, "level_shift", "up", dt.date(2026, 3, 22), None, 3628.0, 5301.0, 46.0, 7.4)
    anomaly.drivers = [{"segment": {"Captured": "true"}, "share": 0.91}, {"segment": {"Captured": "false"}, "share": 0.09}]
    assert where_text(anomaly) == "Captured=true (91% of the change); Captured=false (9% of the change)"
    anomaly.drivers = [{"segment": {"region": "APAC", "channel": "partner"}, "share": 0.92}]
    assert where_text(anomaly) == "APAC × partner (92% of the change)"
