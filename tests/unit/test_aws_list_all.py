"""checks/aws._list_all: every page of a describe call, or ApiUnavailable naming the code when the API is
not there for this caller (the checks then warn instead of failing); any other error is raised."""
import pytest
from botocore.exceptions import ClientError

from include.pgferry.checks.aws import ApiUnavailable, _list_all


class Pages:
    """A client whose paginator serves the given pages, or raises the given error."""

    def __init__(self, pages=(), error=None):
        self.pages, self.error, self.asked = list(pages), error, []

    def get_paginator(self, operation):
        client = self

        class Paginator:
            def paginate(self, **kwargs):
                client.asked.append((operation, kwargs))
                if client.error:
                    raise client.error
                return iter(client.pages)
        return Paginator()


def client_error(code):
    return ClientError({"Error": {"Code": code, "Message": code}}, "DescribeDBEngineVersions")


def test_items_of_every_page_in_order():
    client = Pages([{"DBEngineVersions": [{"EngineVersion": "15.4"}]}, {"DBEngineVersions": [{"EngineVersion": "16.1"}]}])
    assert _list_all(client, "describe_db_engine_versions", "DBEngineVersions", Engine="aurora-postgresql") == \
        [{"EngineVersion": "15.4"}, {"EngineVersion": "16.1"}]
    assert client.asked == [("describe_db_engine_versions", {"Engine": "aurora-postgresql"})]


def test_an_api_not_there_for_the_caller_is_named():
    with pytest.raises(ApiUnavailable) as e:
        _list_all(Pages(error=client_error("AccessDenied")), "describe_db_engine_versions", "DBEngineVersions")
    assert e.value.code == "AccessDenied"


def test_any_other_error_is_raised_as_it_is():
    with pytest.raises(ClientError):
        _list_all(Pages(error=client_error("Throttling")), "describe_db_engine_versions", "DBEngineVersions")
