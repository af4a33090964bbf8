"""Expression indexes on the metadata an annotation team filters, sorts and charts by, and the SQL that uses them.

One index per metadata property name: `records (dataset_id, json_extract(metadata, '$."NAME"'))`, shared by every
dataset with a property of that name. SQLite uses an expression index only where a query spells the very same
expression, with the path as a literal (a bound parameter does not match), so `value()` is the one place that
spells it. Names SQLite's quoted path cannot address (see `sql_filters.plain_key`) get no index; their queries
keep the json_each form.

How the indexed value relates to Elasticsearch's semantics, which the engine follows: `json_extract` gives a
scalar as an SQL value (strings as text, numbers as numbers, true/false as 1/0, null as NULL) and an array or an
object as its JSON text, which starts with `[` or `{`. Index order puts NULL first, then numbers, then text, so
a scalar test and a numeric range are index lookups, and the few values that may be arrays or objects are the
two text ranges `CONTAINER_RANGES` selects, checked element by element with json_each.
"""

from __future__ import annotations

import hashlib


def json_path(key: str) -> str:
    """JSON path to a top-level key, quoted. Only right for a `plain_key`: SQLite's path syntax has no
    escape (a `"` ends the label) and compares the label with the stored JSON text, which holds non-ASCII
    and backslashes escaped; `json_member` addresses any key."""
    return '$."' + key + '"'


def plain_key(key: str) -> bool:
    """A key SQLite's quoted JSON path addresses as written: printable ASCII without `"` or `\\`."""
    return key.isascii() and key.isprintable() and '"' not in key and "\\" not in key


INDEX_PREFIX = "tacit_metadata_"


def member(alias: str, key: str) -> str:
    """`<alias>.metadata, '$."key"'`: the arguments of json_extract/json_type/json_each for `key` (a `plain_key`)."""
    literal = json_path(key).replace("'", "''")
    return f"{alias}.metadata, '{literal}'"


def value(alias: str, key: str) -> str:
    """`json_extract(<alias>.metadata, '$."key"')` exactly as the index spells it."""
    return f"json_extract({member(alias, key)})"


def container_ranges(expr: str) -> str:
    """True for every text starting with `[` or `{`: all arrays and objects, and the strings that look like them."""
    return f"(({expr} >= '[' AND {expr} < '\\') OR ({expr} >= '{{' AND {expr} < '|'))"


def index_name(key: str) -> str:
    return INDEX_PREFIX + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def create_index_sql(key: str) -> str | None:
    """The index for metadata `key`; None for a name its path cannot address."""
    if not plain_key(key):
        return None
    # `metadata` unqualified: an index expression names its table's columns only
    expression = value("records", key).replace("records.metadata", "metadata")
    return f"CREATE INDEX IF NOT EXISTS {index_name(key)} ON records (dataset_id, {expression})"
