from inventory import storage
from inventory.models import Inventory, Item


def test_save_then_load_round_trips(tmp_path):
    path = tmp_path / "stock.json"
    storage.save(Inventory([Item("A1", "Apple", 3, 0.5)]), path)
    loaded = storage.load(path)
    assert [(i.sku, i.name, i.quantity, i.unit_price) for i in loaded.items()] == [
        ("A1", "Apple", 3, 0.5)]


def test_missing_file_is_an_empty_inventory(tmp_path):
    assert storage.load(tmp_path / "none.json").items() == []
