"""What infra/ builds, read from the app's own definitions (`chalicelib.resources`) for one stage.

chalicelib reads the stage's environment at import time (table names carry `RESOURCE_PREFIX`), so the
environment is applied before anything of chalicelib is imported.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # "S" | "N" | "B"


@dataclass(frozen=True)
class IndexDef:
    name: str
    hash_key: Key
    range_key: Key | None
    projection: str  # "ALL" | "KEYS_ONLY" | "INCLUDE"
    non_key_attributes: tuple[str, ...] = ()
    local: bool = False


@dataclass(frozen=True)
class TableDef:
    logical: str
    name: str
    hash_key: Key
    range_key: Key | None
    indexes: tuple[IndexDef, ...]
    ttl_attribute: str | None


def apply_stage(stage: str) -> dict[str, str]:
    """Set the stage's environment (STAGE, RESOURCE_PREFIX, ...) as the Lambdas will see it."""
    from devstack import environment

    return environment.apply(stage, None)


def _key(attributes: dict[str, Any], name: str | None) -> Key | None:
    return None if name is None else Key(name, attributes[name].attr_type)


def _index(index: Any, attributes: dict[str, Any]) -> IndexDef:
    from pynamodb.indexes import LocalSecondaryIndex

    meta = index.Meta
    keys = {attr.attr_name or name: attr for name, attr in meta.attributes.items()}
    attributes = {**keys, **attributes}
    hash_name = next(n for n, a in keys.items() if a.is_hash_key)
    range_name = next((n for n, a in keys.items() if a.is_range_key), None)
    projection = meta.projection
    return IndexDef(
        name=meta.index_name,
        hash_key=_key(attributes, hash_name),  # type: ignore[arg-type]
        range_key=_key(attributes, range_name),
        projection=projection.projection_type,
        non_key_attributes=tuple(getattr(projection, "non_key_attributes", None) or ()),
        local=isinstance(index, LocalSecondaryIndex),
    )


def table_def(model: Any) -> TableDef:
    """A table as the PynamoDB model declares it: name, keys and their types, every index, the TTL attribute."""
    attributes = {a.attr_name: a for a in model.get_attributes().values()}  # stored names, as DynamoDB sees them
    hash_name = next(n for n, a in attributes.items() if a.is_hash_key)
    range_name = next((n for n, a in attributes.items() if a.is_range_key), None)
    ttl = model._ttl_attribute()
    return TableDef(
        logical=getattr(model.Meta, "logical_name", model.Meta.table_name),
        name=model.Meta.table_name,
        hash_key=_key(attributes, hash_name),  # type: ignore[arg-type]
        range_key=_key(attributes, range_name),
        indexes=tuple(sorted((_index(i, attributes) for i in model._indexes.values()), key=lambda i: i.name)),
        ttl_attribute=ttl.attr_name if ttl is not None else None,
    )


def tables() -> list[TableDef]:
    from chalicelib.resources import table_models

    return [table_def(model) for model in table_models()]
