from include.pgferry.logical.selection import binary_copy_safe
from include.pgferry.logical.units import binary_columns
from include.pgferry.model import Column


def col(type_oid, kind="b", base=0):
    return {"type_oid": type_oid, "type_kind": kind, "base_type_oid": base}


def test_built_in_types_enums_and_domains_over_built_ins_go_binary():
    assert binary_copy_safe(col(23))                     # integer
    assert binary_copy_safe(col(1007))                   # integer[]
    assert binary_copy_safe(col(40000, "e"))             # an enum: sent as its label
    assert binary_copy_safe(col(40001, "d", base=25))    # a domain over text


def test_types_whose_binary_form_embeds_their_oid_go_as_text():
    assert not binary_copy_safe(col(40002, "b"))             # an extension's base type (citext, ...)
    assert not binary_copy_safe(col(40003, "c"))             # a composite
    assert not binary_copy_safe(col(40004, "b"))             # an array of an enum (typtype b, user oid)
    assert not binary_copy_safe(col(40005, "d", base=40000))  # a domain over a user type


# -- extension types: binary when the extension is in one version on both sides ----------------------------


def column(binary_safe, extension=""):
    return Column("c", "c", "t", 40000, binary_safe, "", "", extension)


def test_an_extension_type_goes_binary_only_when_its_extension_has_one_version_on_both_sides():
    geometry = column(False, "postgis")
    assert binary_columns([column(True), geometry], {"postgis"})
    assert not binary_columns([column(True), geometry], set())            # created in another version
    assert not binary_columns([geometry], {"hstore"})                      # another extension's version


def test_one_column_of_an_unsafe_type_keeps_the_whole_table_in_text():
    assert not binary_columns([column(False, "postgis"), column(False)], {"postgis"})   # e.g. an array of it
    assert binary_columns([], set())

