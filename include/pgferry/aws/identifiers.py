"""RDS identifier rules (from the seed) and the names pgferry derives from the user's choices.

Pure functions: no AWS, no Airflow, so the DAG's Param schema, the precheck and the unit tests share
one definition of each rule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DB_IDENTIFIER_LENGTH = 63
MAX_SNAPSHOT_IDENTIFIER_LENGTH = 255


@dataclass(frozen=True)
class IdentifierRule:
    name: str            # what a person reads in an error: the rule as the seed states it
    schema: dict         # the same rule as a JSON-schema fragment, for the DAG's Param

    def broken_by(self, value: str) -> bool:
        return not _schema_accepts(self.schema, value)


def _schema_accepts(schema: dict, value: str) -> bool:
    # The tiny subset of JSON schema used below; keeps the rules and the Param schema one thing.
    if "minLength" in schema and len(value) < schema["minLength"]:
        return False
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return False
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    if "not" in schema and _schema_accepts(schema["not"], value):
        return False
    return True


def _rules(max_length: int) -> tuple[IdentifierRule, ...]:
    return (
        IdentifierRule(f"must contain from 1 to {max_length} characters",
                       {"minLength": 1, "maxLength": max_length}),
        IdentifierRule("must contain only letters, digits or hyphens",
                       {"pattern": "^[A-Za-z0-9-]*$"}),
        IdentifierRule("first character must be a letter",
                       {"pattern": "^([A-Za-z]|$)"}),
        IdentifierRule("cannot end with a hyphen",
                       {"not": {"pattern": "-$"}}),
        IdentifierRule("cannot contain two consecutive hyphens",
                       {"not": {"pattern": "--"}}),
    )


DB_IDENTIFIER_RULES = _rules(MAX_DB_IDENTIFIER_LENGTH)
SNAPSHOT_IDENTIFIER_RULES = _rules(MAX_SNAPSHOT_IDENTIFIER_LENGTH)


def identifier_problems(value: str, what: str, rules: tuple[IdentifierRule, ...] = DB_IDENTIFIER_RULES) -> list[str]:
    """Every rule `value` breaks, each as a sentence naming `what` and the rule."""
    return [f"{what} {value!r}: {rule.name}" for rule in rules if rule.broken_by(value)]


def identifier_param_schema(rules: tuple[IdentifierRule, ...] = DB_IDENTIFIER_RULES) -> dict:
    """JSON schema for a Param: one `allOf` entry per rule, its description naming the rule, so a
    ParamValidationError shows which rule failed."""
    return {"allOf": [{**rule.schema, "description": rule.name} for rule in rules]}


def primary_instance_identifier(cluster_identifier: str) -> str:
    return f"{cluster_identifier}-1"


def replica_instance_identifiers(cluster_identifier: str, replica_count: int) -> list[str]:
    # Numbered, not "writer"/"reader": a failover swaps roles, names stay.
    return [f"{cluster_identifier}-{n}" for n in range(2, replica_count + 2)]


def manual_snapshot_identifier(source_instance: str, run_stamp: str) -> str:
    """The snapshot pgferry takes when none is given: one per source and DAG run, so a retried
    task finds the snapshot its first try started instead of taking another."""
    return sanitize_snapshot_identifier(f"pgferry-{source_instance}-{run_stamp}")


def snapshot_name_from(snapshot_identifier_or_arn: str) -> str:
    """`arn:aws:rds:REGION:ACCOUNT:snapshot:NAME` -> NAME; a plain name stays as is."""
    if snapshot_identifier_or_arn.startswith("arn:"):
        return snapshot_identifier_or_arn.split(":snapshot:", 1)[-1]
    return snapshot_identifier_or_arn


def copy_snapshot_identifier(source_snapshot: str) -> str:
    """Name of the copy in the target region: the source's name when that is a valid manual
    snapshot name, else a cleaned one (automated snapshots are named `rds:...`)."""
    name = snapshot_name_from(source_snapshot)
    if not identifier_problems(name, "snapshot", SNAPSHOT_IDENTIFIER_RULES):
        return name
    return sanitize_snapshot_identifier(f"pgferry-copy-{name}")


def sanitize_snapshot_identifier(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", text)
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"s-{cleaned}" if cleaned else "s"
    return cleaned[:MAX_SNAPSHOT_IDENTIFIER_LENGTH].rstrip("-")
