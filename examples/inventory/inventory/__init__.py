"""Stock keeping: items, an inventory, JSON storage, reports and a command line."""

from inventory.models import Inventory, Item

__all__ = ["Inventory", "Item"]
