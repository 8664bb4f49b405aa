"""Loading and saving an inventory as a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from inventory.models import Inventory, Item


def load(path: Path) -> Inventory:
    """The inventory stored at `path` (an empty one if the file does not exist)."""
    if not path.exists():
        return Inventory()
    data = json.loads(path.read_text(encoding="utf-8"))
    return Inventory([item_from_dict(entry) for entry in data.get("items", [])])


def save(inventory: Inventory, path: Path) -> None:
    payload = {"items": [item_to_dict(item) for item in inventory.items()]}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def item_to_dict(item: Item) -> dict:
    return {"sku": item.sku, "name": item.name, "quantity": item.quantity,
            "unit_price": item.unit_price}


def item_from_dict(data: dict) -> Item:
    return Item(data["sku"], data["name"], int(data["quantity"]), float(data["unit_price"]))
