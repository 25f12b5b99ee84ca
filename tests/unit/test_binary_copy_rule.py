from include.pgferry.logical.selection import binary_copy_safe


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
