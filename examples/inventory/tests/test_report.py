from inventory.models import Inventory, Item
from inventory.report import valuation_report


def test_valuation_report_ends_with_total():
    report = valuation_report(Inventory([Item("A1", "Apple", 4, 0.5)]))
    assert "A1" in report
    assert report.endswith("Total value: 2.00")
