"""Work units dealt to lanes longest first, their XCom form, and each unit's index builds."""
from include.pgferry.logical.copy_lane import lane_label
from include.pgferry.logical.plan_lanes import attach_index_builds
from include.pgferry.logical.units import deal_longest_first
from include.pgferry.model import KeyRange, Lane, PostData, QualifiedName, Unit
from include.pgferry.pg.ddl import describe_statement


def unit(name, nbytes, part="", key_range=None):
    return Unit(id=f"app.{name}{part}", oid=1, source=QualifiedName("app", name), target=QualifiedName("shop", name),
                columns=("id", "x"), target_columns=("id", "y"), binary=True, range=key_range, bytes=nbytes)


def test_the_biggest_unit_goes_to_the_emptiest_lane():
    mb = 1_000_000
    lanes = deal_longest_first([unit("a", 10 * mb), unit("b", 100 * mb), unit("c", 60 * mb), unit("d", 50 * mb)], 2)
    assert [[u.id for u in lane] for lane in lanes] == [["app.b", "app.a"], ["app.c", "app.d"]]


def test_an_empty_table_still_counts_one_page_so_many_spread_over_the_lanes():
    lanes = deal_longest_first([unit(n, 0) for n in "abcd"], 2)
    assert [[u.id for u in lane] for lane in lanes] == [["app.a", "app.c"], ["app.b", "app.d"]]


def test_lanes_can_stay_empty_when_units_are_few():
    assert [len(lane) for lane in deal_longest_first([unit("a", 1)], 3)] == [1, 0, 0]


def test_a_lane_is_named_by_its_number_of_all():
    assert lane_label(1, 4) == "lane 2 of 4"
    assert lane_label(0, None) == "lane 1"


def test_a_unit_round_trips_through_xcom_and_maps_its_range_column():
    u = unit("a", 10, " [1/2]", KeyRange("x", None, 500))
    back = Unit.from_xcom(u.to_xcom())
    assert back == u
    assert back.target_range_column == "y"
    assert back.table == "app.a"
    assert Lane.from_xcom(Lane((u,)).to_xcom()) == Lane((u,))


def test_each_unit_gets_its_tables_index_builds_and_how_many_parts_the_table_has():
    post = PostData({"indexes": ((describe_statement("CREATE INDEX a_x ON shop.a USING btree (y)"),
                                  describe_statement("ALTER INDEX shop.p ATTACH PARTITION shop.q")), ())})
    lanes = attach_index_builds(post, [Lane((unit("a", 5, " [1/2]"), unit("b", 1))), Lane((unit("a", 5, " [2/2]"),))])
    a1, b = lanes[0].units
    assert [s.name for s in a1.index_builds] == ["a_x"] and a1.table_parts == 2
    assert b.index_builds == () and b.table_parts == 1
    assert lanes[1].units[0].index_builds == a1.index_builds


def test_a_lane_takes_only_builds_that_need_nothing_but_its_table():
    from dataclasses import replace

    def stmt(text, dump_id, depends_on):
        return replace(describe_statement(text), dump_id=dump_id, depends_on=depends_on)
    # 10: table a (pre-data); 20: a materialized view pg_dump placed after a's key (30); 40: a unique
    # constraint on a that, say, depends on that view: not the lane's, which runs before the view exists
    post = PostData({"indexes": (
        (stmt("ALTER TABLE ONLY shop.a ADD CONSTRAINT a_pkey PRIMARY KEY (id)", 30, (10,)),
         stmt("CREATE MATERIALIZED VIEW shop.a_sums AS SELECT sum(y) FROM shop.a WITH NO DATA", 20, (30, 10)),
         stmt("CREATE INDEX a_x ON shop.a USING btree (y)", 31, (10,)),
         stmt("ALTER TABLE ONLY shop.a ADD CONSTRAINT a_y UNIQUE (y)", 40, (10, 20))), ())})
    (lane,) = attach_index_builds(post, [Lane((unit("a", 5),))])
    assert [s.name for s in lane.units[0].index_builds] == ["a_pkey", "a_x"]
