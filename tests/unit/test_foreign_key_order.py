"""Foreign keys are checked longest first, so that the sessions checking them finish together."""
from include.pgferry.logical import _foreign_key_cost


def rel(oid, name, nbytes, relkind="r", parent=None):
    return {"oid": oid, "schema": "s", "name": name, "target_schema": "t", "target_name": name, "bytes": nbytes,
            "relkind": relkind, "parent_oid": parent}


PLAN = {"relations": [rel(1, "accounts", 2500), rel(2, "branches", 1), rel(3, "history", 50),
                      rel(4, "events", 0, "p"), rel(5, "events_2024", 300, parent=4), rel(6, "events_rest", 20, parent=4)]}


def fk(child, parent, col="x"):
    return f"ALTER TABLE ONLY t.{child} ADD CONSTRAINT {child}_fk FOREIGN KEY ({col}) REFERENCES t.{parent}(id);"


def test_cost_is_what_the_check_reads_on_both_sides():
    assert _foreign_key_cost(fk("history", "accounts"), PLAN) == 2550
    assert _foreign_key_cost(fk("accounts", "branches"), PLAN) == 2501


def test_a_partitioned_table_costs_what_its_partitions_hold():
    assert _foreign_key_cost(fk("events", "branches"), PLAN) == 321


def test_sorting_by_cost_puts_the_big_checks_first():
    keys = [fk("events", "branches"), fk("accounts", "branches"), fk("history", "accounts")]
    assert sorted(keys, key=lambda s: -_foreign_key_cost(s, PLAN)) == [keys[2], keys[1], keys[0]]
