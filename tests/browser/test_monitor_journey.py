"""A World Bank monitor in Chromium: signs in, opens the results indicators, sees the figures the demo's
accepted reports give, and downloads the XLSX and the CSV; the files are what they claim to be."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser.test_agreement_journey import as_user

pytestmark = pytest.mark.browser


def test_a_monitor_reads_the_indicators_and_downloads_them(browser, base_url, artifacts_dir):
    context, monitor = as_user(browser, base_url, "monitor@demo.example")
    with monitor.expect_navigation():
        monitor.click("nav a[href='/indicators']")
    expect(monitor.locator("h1")).to_have_text("Results indicators")
    table = monitor.locator("table.indicators")
    expect(table.locator("tbody tr")).to_have_count(19)  # the catalogue's active indicators
    ben = table.locator("tbody tr", has_text="BEN ·")
    expect(ben.locator("td").nth(2)).not_to_have_text("—")  # a current value from the accepted reports
    expect(monitor.locator("figure.chart svg").first).to_be_visible()
    monitor.screenshot(path=str(artifacts_dir / "monitor-indicators.png"), full_page=True)

    with monitor.expect_download() as xlsx_download:
        monitor.click("#downloads button:has-text('Download XLSX')")
    xlsx = xlsx_download.value
    assert xlsx.suggested_filename.startswith("ssip-indicators-") and xlsx.suggested_filename.endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(open(xlsx.path(), "rb").read()))
    assert workbook.sheetnames[0] == "Indicators (ISR)" and "Definitions" in workbook.sheetnames
    codes = [row[0] for row in workbook["Indicators (ISR)"].iter_rows(min_row=2, values_only=True)]
    assert "BEN" in codes and "DISBURSED" in codes

    monitor.select_option("#d-indicator", "BEN")
    monitor.select_option("#d-period", "quarter")
    with monitor.expect_download() as csv_download:
        monitor.click("#downloads button:has-text('Download CSV')")
    text = open(csv_download.value.path(), encoding="utf-8-sig").read()
    lines = text.splitlines()
    assert lines[0].startswith("indicator,indicator_name,unit,period_type,period")
    assert len(lines) > 1 and all(line.startswith("BEN,") and ",quarter," in line for line in lines[1:])
    context.close()
