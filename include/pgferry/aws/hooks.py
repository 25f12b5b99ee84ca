"""Amazon provider hooks, built on first use.

Operators here derive from `airflow.sdk` classes and import the amazon provider only when a task
runs, so parsing the DAG file does not pay for boto3 and the provider (~0.5 s per parse).
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.rds import RdsHook

AWS_TEMPLATE_FIELDS = ("aws_conn_id", "region_name")


def rds_hook(aws_conn_id: str | None, region_name: str | None, verify: bool | str | None = None,
             botocore_config: dict[str, Any] | None = None) -> RdsHook:
    from airflow.providers.amazon.aws.hooks.rds import RdsHook

    return RdsHook(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify, config=botocore_config)


def kms_client(aws_conn_id: str | None, region_name: str | None) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=aws_conn_id, region_name=region_name, client_type="kms").conn


class RdsHookMixin:
    """`aws_conn_id`, `region_name`, `verify`, `botocore_config` and a lazily built `hook`, as the
    provider's AwsBaseHookMixin offers, without importing the provider at DAG parse time."""

    aws_conn_id: str | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict[str, Any] | None

    def _init_aws(self, aws_conn_id: str | None, region_name: str | None, verify: bool | str | None,
                  botocore_config: dict[str, Any] | None) -> None:
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    @cached_property
    def hook(self) -> RdsHook:
        return rds_hook(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    def trigger_kwargs(self) -> dict[str, Any]:
        """What every AwsBaseWaiterTrigger needs to rebuild the same hook in the triggerer."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify,
                "botocore_config": self.botocore_config}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
