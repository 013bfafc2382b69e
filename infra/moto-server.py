"""The local stack's DynamoDB: moto's server, whose transactions back up only the items they
touch.

moto 5 backs up every table a TransactWriteItems names (a deep copy of the whole table, once
per item of the transaction) and puts the copies back when the transaction is cancelled. The
copy grows with the table: on a table of a few thousand users every write takes hundreds of
milliseconds, so a reconciliation's tests and benchmark would measure moto's copying. A
transaction only ever changes the items it names (DynamoDB refuses two operations on one
item), so keeping those items and putting them back on failure is the same rollback.
Everything else is moto's own code; `infra/local-stack.sh` starts this instead of
`moto_server`, with the same arguments.
"""

import copy
import sys
import threading

import moto
from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_in_transaction = threading.local()


class _Copy:
    """The `copy` module as moto's DynamoDB backend sees it: inside a transaction a table is
    not copied, since the wrapper below keeps the items the transaction touches instead."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if getattr(_in_transaction, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend, transact_items):
    """(table, hash key, range key, a copy of the item or None) for each item named."""
    kept = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        ((_, op),) = entry.items()
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        attrs = op.get("Item") or op.get("Key") or {}
        if table.hash_key_attr not in attrs:
            continue
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                continue
            range_value = DynamoType(attrs[table.range_key_attr])
        item = table.get_item(hash_value, range_value)
        kept.append((table, hash_value, range_value, copy.deepcopy(item)))
    return kept


def _put_back(kept):
    # Reversed: when an item is named twice (refused anyway), its first copy is the original.
    for table, hash_value, range_value, item in reversed(kept):
        items = table.items[hash_value] if range_value is not None else table.items
        key = range_value if range_value is not None else hash_value
        if item is None:
            items.pop(key, None)
        else:
            items[key] = item


_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    kept = _touched(self, transact_items)
    _in_transaction.active = True
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _put_back(kept)
        raise
    finally:
        _in_transaction.active = False


# Written against moto 5.2's `transact_write_items`; another version may back up otherwise.
if not moto.__version__.startswith("5.2."):
    sys.exit(f"infra/moto-server.py was written for moto 5.2, not {moto.__version__}: review it")

models.copy = _Copy()
DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
