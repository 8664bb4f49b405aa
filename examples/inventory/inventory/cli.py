"""The command line: add, remove, list and report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inventory import storage
from inventory.models import InventoryError, Item
from inventory.report import stock_table, valuation_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inventory", description=__doc__)
    parser.add_argument("--file", type=Path, default=Path("inventory.json"))
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add stock")
    add.add_argument("sku")
    add.add_argument("name")
    add.add_argument("quantity", type=int)
    add.add_argument("unit_price", type=float)
    remove = commands.add_parser("remove", help="take stock out")
    remove.add_argument("sku")
    remove.add_argument("quantity", type=int)
    commands.add_parser("list", help="show the stock table")
    commands.add_parser("report", help="show the stock table and its total value")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    inventory = storage.load(args.file)
    try:
        if args.command == "add":
            inventory.add(Item(args.sku, args.name, args.quantity, args.unit_price))
            storage.save(inventory, args.file)
        elif args.command == "remove":
            inventory.remove(args.sku, args.quantity)
            storage.save(inventory, args.file)
        elif args.command == "list":
            print(stock_table(inventory))
        elif args.command == "report":
            print(valuation_report(inventory))
    except InventoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
