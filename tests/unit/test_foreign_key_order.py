"""Foreign keys are checked longest first, so that the sessions checking them finish together."""
from include.pgferry.logical.foreign_keys import KeyCheck, check_order, foreign_key_cost, table_sizes
from include.pgferry.model import Plan
from include.pgferry.pg.ddl import describe_statement


def rel(oid, name, nbytes, relkind="r", parent=None):
    return {"oid": oid, "schema": "s", "name": name, "target_schema": "t", "target_name": name, "bytes": nbytes,
            "relkind": relkind, "parent_oid": parent}


PLAN = Plan.from_xcom({"relations": [rel(1, "accounts", 2500), rel(2, "branches", 1), rel(3, "history", 50),
                                     rel(4, "events", 0, "p"), rel(5, "events_2024", 300, parent=4),
                                     rel(6, "events_rest", 20, parent=4)]})


def fk(child, parent, col="x"):
    return describe_statement(f"ALTER TABLE ONLY t.{child} ADD CONSTRAINT {child}_fk FOREIGN KEY ({col}) "
                              f"REFERENCES t.{parent}(id)")


def test_cost_is_what_the_check_reads_on_both_sides():
    assert foreign_key_cost(fk("history", "accounts"), table_sizes(PLAN)) == 2550
    assert foreign_key_cost(fk("accounts", "branches"), table_sizes(PLAN)) == 2501


def test_a_partitioned_table_costs_what_its_partitions_hold():
    assert foreign_key_cost(fk("events", "branches"), table_sizes(PLAN)) == 321


def test_the_keys_step_orders_the_big_checks_first():
    checks = [KeyCheck(fk("events", "branches"), "-"), KeyCheck(fk("accounts", "branches"), "-"),
              KeyCheck(fk("history", "accounts"), "-")]
    assert [c.key.table.name for c in check_order(checks, PLAN)] == ["history", "accounts", "events"]
