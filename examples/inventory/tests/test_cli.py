from inventory.cli import main


def test_add_then_report(tmp_path, capsys):
    stock = str(tmp_path / "stock.json")
    assert main(["--file", stock, "add", "A1", "Apple", "4", "0.5"]) == 0
    assert main(["--file", stock, "report"]) == 0
    assert "Total value: 2.00" in capsys.readouterr().out


def test_removing_unknown_sku_fails_with_message(tmp_path, capsys):
    assert main(["--file", str(tmp_path / "s.json"), "remove", "Z9", "1"]) == 1
    assert "unknown SKU" in capsys.readouterr().err
