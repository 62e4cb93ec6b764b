"""Numbers stay numbers in every CSV: the formula guard is for text only."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from portal.exports import csv_response


def test_negative_amounts_stay_numbers_and_text_is_still_guarded(app):
    with app.test_request_context():
        response = csv_response("x.csv", ["Amount", "Note"], [
            (Decimal("-48300.00"), "-reversal"), (Decimal("1E+3"), "=SUM(A1:A9)"), (-5, "@cmd"), (2.5, "+1")])
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1:] == [["-48300.00", "'-reversal"], ["1000", "'=SUM(A1:A9)"], ["-5", "'@cmd"], ["2.5", "'+1"]]
    # A spreadsheet sum over the amounts counts the reversal.
    assert sum(Decimal(r[0]) for r in rows[1:]) == Decimal("-47302.5")
