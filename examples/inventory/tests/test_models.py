import pytest

from inventory.models import Inventory, InventoryError, Item


def test_add_merges_quantities_of_one_sku():
    inventory = Inventory()
    inventory.add(Item("A1", "Apple", 3, 0.5))
    inventory.add(Item("A1", "Apple", 2, 0.5))
    assert inventory.find("A1").quantity == 5


def test_remove_more_than_stocked_is_refused():
    inventory = Inventory([Item("A1", "Apple", 3, 0.5)])
    with pytest.raises(InventoryError):
        inventory.remove("A1", 4)


def test_total_value_sums_items():
    inventory = Inventory([Item("A1", "Apple", 4, 0.5), Item("B2", "Bread", 1, 2.0)])
    assert inventory.total_value() == 4.0
