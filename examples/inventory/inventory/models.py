"""The inventory's data: items and the collection that holds them."""

from __future__ import annotations

from dataclasses import dataclass


class InventoryError(Exception):
    """An operation on the inventory is not possible (unknown SKU, not enough stock)."""


@dataclass
class Item:
    """One stocked article."""

    sku: str
    name: str
    quantity: int
    unit_price: float

    def value(self) -> float:
        """What the stock of this item is worth."""
        return self.quantity * self.unit_price


class Inventory:
    """Items by SKU."""

    def __init__(self, items: list[Item] | None = None) -> None:
        self._items: dict[str, Item] = {}
        for item in items or []:
            self._items[item.sku] = item

    def add(self, item: Item) -> None:
        """Add an item, or increase the quantity of an existing SKU."""
        if item.quantity < 0:
            raise InventoryError(f"quantity must not be negative: {item.quantity}")
        existing = self._items.get(item.sku)
        if existing is None:
            self._items[item.sku] = item
        else:
            existing.quantity += item.quantity

    def remove(self, sku: str, quantity: int) -> Item:
        """Take `quantity` units of `sku` out of stock."""
        item = self.find(sku)
        if quantity > item.quantity:
            raise InventoryError(f"only {item.quantity} of {sku} in stock")
        item.quantity -= quantity
        return item

    def find(self, sku: str) -> Item:
        try:
            return self._items[sku]
        except KeyError:
            raise InventoryError(f"unknown SKU: {sku}") from None

    def items(self) -> list[Item]:
        """All items, sorted by SKU."""
        return [self._items[sku] for sku in sorted(self._items)]

    def total_value(self) -> float:
        return sum(item.value() for item in self._items.values())
