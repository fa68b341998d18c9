"""Bring a warehouse loaded by an earlier version up to the current contracts before a load merges into it.

Tables loaded before organizations existed have no `organization` column. The merge keys now start with it, so
their rows would never match a re-read bucket and would be kept twice: the column is added and the rows named for
the organization they came from, `default`, first. dlt then finds the column already there and adds nothing.
"""

from __future__ import annotations

from typing import Any

from . import catalogue
from .catalogue import DEFAULT_ORGANIZATION, ORGANIZATION
from .plan import dataset_tables


def add_organization(pipeline: Any) -> list[str]:
    """Add `organization` = 'default' to every contract table of the pipeline's dataset that lacks it; returns the
    tables changed. A pipeline whose own schema already has the column loaded it: nothing is asked then."""
    wanted = {t.lower() for t in catalogue.contract_tables()}
    known = pipeline.default_schema.tables if pipeline.default_schema_name else {}
    if any(ORGANIZATION in (known.get(t) or {}).get("columns", {}) for t in wanted):
        return []
    with pipeline.sql_client() as client:
        changed = _add(client, wanted)
        # dlt's merge stages rows in a second dataset whose tables keep the last load's rows: they get the column too,
        # or dlt's own ALTER (NOT NULL, as the contract says) would fail on them.
        with client.with_staging_dataset():
            _add(client, wanted)
    return changed


def _add(client: Any, wanted: set[str]) -> list[str]:
    tables = dataset_tables(client) & wanted
    if not tables:
        return []
    has = {str(r[0]).lower() for r in client.execute_sql(
        "select table_name from information_schema.columns where lower(table_schema) = "
        f"'{client.dataset_name.lower()}' and lower(column_name) = '{ORGANIZATION}'") or []}
    missing = sorted(tables - has)
    column = client.escape_column_name(ORGANIZATION)
    if missing:
        column_type = client.capabilities.get_type_mapper().to_destination_type(
            {"name": ORGANIZATION, "data_type": "text", "nullable": True}, {"name": missing[0]})
        for table in missing:
            client.execute_sql(f"alter table {client.make_qualified_table_name(table)} add column {column} "
                               f"{column_type}")
    # Every table, not only those just altered: a run stopped between the two statements left rows without a name,
    # and those would never match a merge key again.
    for table in sorted(tables):
        client.execute_sql(f"update {client.make_qualified_table_name(table)} set {column} = "
                           f"'{DEFAULT_ORGANIZATION}' where {column} is null")
    return missing
