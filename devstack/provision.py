"""Create every resource of `chalicelib.resources` (and every table of the models) in the emulator.

Used by `make run` against the moto server and by the integration tests under `mock_aws`; infra/ builds the
same list for AWS. Idempotent: existing resources are left as they are.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from chalicelib import deps
from chalicelib.adapters.keyring import new_secret_document
from chalicelib.resources import RESOURCES, table_models
from chalicelib.settings import get_settings


def create_tables() -> None:
    for model in table_models():
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
            model.update_ttl(ignore_update_ttl_errors=True)  # a no-op for models without a TTL attribute


def create_queues(sqs: Any) -> dict[str, str]:
    urls: dict[str, str] = {}
    name = get_settings().name
    for spec in RESOURCES.queues:
        dlq_url = sqs.create_queue(QueueName=name(spec.dlq))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[spec.logical] = sqs.create_queue(QueueName=name(spec.logical), Attributes={
            "VisibilityTimeout": str(spec.visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}),
        })["QueueUrl"]
    return urls


def create_buckets(s3: Any, sqs: Any, queue_urls: dict[str, str]) -> None:
    name = get_settings().name
    for spec in RESOURCES.buckets:
        bucket = name(spec.logical)
        region = get_settings().region
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**kwargs)
        if spec.notifications:
            configs = []
            for note in spec.notifications:
                arn = sqs.get_queue_attributes(QueueUrl=queue_urls[note.queue],
                                               AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                configs.append({"QueueArn": arn, "Events": list(note.events),
                                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": note.prefix}]}}})
            s3.put_bucket_notification_configuration(Bucket=bucket,
                                                     NotificationConfiguration={"QueueConfigurations": configs})


def create_topics(sns: Any) -> None:
    for spec in RESOURCES.topics:
        sns.create_topic(Name=get_settings().name(spec.logical))


def create_secrets(secrets: Any) -> None:
    for spec in RESOURCES.secrets:
        secret_name = get_settings().name(spec.logical)
        try:
            secrets.describe_secret(SecretId=secret_name)
        except secrets.exceptions.ResourceNotFoundException:
            # An operator's secret starts without any value, as infra/ creates it ("not configured").
            value = {"SecretString": new_secret_document()} if spec.filled_by == "app" else {}
            secrets.create_secret(Name=secret_name, Description=spec.description, **value)


def create_keys(kms: Any) -> None:
    existing = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    for spec in RESOURCES.keys:
        alias = f"alias/{get_settings().name(spec.logical)}"
        if alias not in existing:
            key_id = kms.create_key(Description=spec.description)["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)


def provision() -> None:
    """Create everything (idempotent)."""
    create_tables()
    sqs = deps.aws_client("sqs")
    urls = create_queues(sqs)
    create_buckets(deps.aws_client("s3"), sqs, urls)
    create_topics(deps.aws_client("sns"))
    create_secrets(deps.aws_client("secretsmanager"))
    create_keys(deps.aws_client("kms"))
