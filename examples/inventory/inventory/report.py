"""Text reports about an inventory."""

from __future__ import annotations

from inventory.models import Inventory


def format_money(amount: float) -> str:
    return f"{amount:,.2f}"


def stock_table(inventory: Inventory) -> str:
    """One line per item: SKU, name, quantity, value."""
    lines = [f"{'SKU':<10} {'Name':<20} {'Qty':>5} {'Value':>10}"]
    for item in inventory.items():
        lines.append(f"{item.sku:<10} {item.name:<20} {item.quantity:>5} "
                     f"{format_money(item.value()):>10}")
    return "\n".join(lines)


def valuation_report(inventory: Inventory) -> str:
    """The stock table followed by the total value."""
    return f"{stock_table(inventory)}\nTotal value: {format_money(inventory.total_value())}"
