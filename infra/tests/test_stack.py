"""Template tests: the synthesized stack does what issue 9 and API.md ask, built from the app's definitions."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match
from conftest import ENVIRONMENT


def _resources(template, type_):
    return template.find_resources(type_)


def _one(template, type_, **props):
    found = template.find_resources(type_, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {type_} with {props}, found {len(found)}"
    return next(iter(found.values()))


def _name(logical):
    return f"{ENVIRONMENT['RESOURCE_PREFIX']}-{logical}"


# --- tables -----------------------------------------------------------------------------------------------


def _model_tables():
    """The tables as PynamoDB itself describes them (its own CreateTable schema), independent of infra/."""
    from chalicelib.resources import table_models

    expected = {}
    for model in table_models():
        schema = model._get_schema()
        types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
        indexes = {}
        for index in schema["global_secondary_indexes"] + schema["local_secondary_indexes"]:
            types.update({a["AttributeName"]: a["AttributeType"] for a in index.get("attribute_definitions", [])})
            projection = {k: v for k, v in index["projection"].items() if k in ("ProjectionType", "NonKeyAttributes")}
            indexes[index["index_name"]] = (
                sorted((k["KeyType"], k["AttributeName"]) for k in index["key_schema"]), projection)
        ttl = model._ttl_attribute()
        expected[model.Meta.table_name] = {
            "keys": sorted((k["KeyType"], k["AttributeName"]) for k in schema["key_schema"]),
            "types": types, "indexes": indexes, "ttl": ttl.attr_name if ttl else None,
        }
    return expected


def _synthesized_tables(template):
    found = {}
    for table in _resources(template, "AWS::DynamoDB::Table").values():
        props = table["Properties"]
        indexes = {}
        for index in props.get("GlobalSecondaryIndexes", []) + props.get("LocalSecondaryIndexes", []):
            indexes[index["IndexName"]] = (sorted((k["KeyType"], k["AttributeName"]) for k in index["KeySchema"]),
                                           index["Projection"])
        ttl = props.get("TimeToLiveSpecification")
        found[props["TableName"]] = {
            "keys": sorted((k["KeyType"], k["AttributeName"]) for k in props["KeySchema"]),
            "types": {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]},
            "indexes": indexes, "ttl": ttl["AttributeName"] if ttl and ttl["Enabled"] else None,
        }
    return found


def test_tables_equal_the_app_models(template):
    assert _synthesized_tables(template) == _model_tables()


def test_tables_are_on_demand_recoverable_and_encrypted_with_the_app_key(template):
    tables = _resources(template, "AWS::DynamoDB::Table")
    assert tables
    key_id = next(iter(_resources(template, "AWS::KMS::Key")))
    for table in tables.values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                             "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}


def test_keys_rotate_and_carry_the_alias_the_app_uses(template):
    from chalicelib.resources import RESOURCES

    for spec in RESOURCES.keys:
        _one(template, "AWS::KMS::Alias", AliasName=f"alias/{_name(spec.logical)}")
    for key in _resources(template, "AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True


# --- queues, buckets, topics --------------------------------------------------------------------------------


def test_every_queue_has_a_dead_letter_queue_and_redrive(extended):
    from chalicelib.resources import RESOURCES

    queues = _resources(extended, "AWS::SQS::Queue")
    by_name = {q["Properties"]["QueueName"]: (logical_id, q) for logical_id, q in queues.items()}
    for spec in [*RESOURCES.queues]:
        _, queue = by_name[_name(spec.logical)]
        dlq_id, _ = by_name[_name(spec.dlq)]
        assert queue["Properties"]["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": spec.max_receive_count}
        assert queue["Properties"]["VisibilityTimeout"] == spec.visibility_timeout
    photo_queue = by_name[_name("photo-uploads")][1]
    assert photo_queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3


def test_buckets_are_private_kms_encrypted_and_tls_only(extended):
    buckets = _resources(extended, "AWS::S3::Bucket")
    assert {b["Properties"]["BucketName"] for b in buckets.values()} == {_name("photos"), _name("receipts")}
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert rule["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in rule
        policy = _one(extended, "AWS::S3::BucketPolicy", Bucket={"Ref": logical_id})
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_buckets_expire_rejected_and_temporary_objects(extended):
    for bucket in _resources(extended, "AWS::S3::Bucket").values():
        rules = {r.get("Prefix"): r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
        assert rules["rejected/"]["ExpirationInDays"] == 7
        assert rules["tmp/"]["ExpirationInDays"] == 1
        assert rules[None]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_only_upload_buckets_answer_cors_for_presigned_post(extended):
    photos = _one(extended, "AWS::S3::Bucket", BucketName=_name("photos"))
    receipts = _one(extended, "AWS::S3::Bucket", BucketName=_name("receipts"))
    [cors] = photos["Properties"]["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedMethods"] == ["POST"] and cors["AllowedOrigins"]
    assert "CorsConfiguration" not in receipts["Properties"]


def test_bucket_notifications_reach_their_queue(extended):
    photos = _one(extended, "AWS::S3::Bucket", BucketName=_name("photos"))
    queue_id = next(k for k, q in _resources(extended, "AWS::SQS::Queue").items()
                    if q["Properties"]["QueueName"] == _name("photo-uploads"))
    [config] = photos["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert config == {"Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": [queue_id, "Arn"]},
                      "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}}
    policy = _one(extended, "AWS::SQS::QueuePolicy", Queues=[{"Ref": queue_id}])
    [statement] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]
    policy_id = next(iter(extended.find_resources("AWS::SQS::QueuePolicy",
                                                  {"Properties": {"Queues": [{"Ref": queue_id}]}})))
    assert policy_id in photos["DependsOn"]


def test_topics_for_door_access_and_ops_alarms(extended):
    names = {t["Properties"]["TopicName"] for t in _resources(extended, "AWS::SNS::Topic").values()}
    assert {_name("door-access"), _name("ops-alarms")} <= names


def test_sms_defaults_to_transactional_with_a_spend_limit_parameter(template):
    parameter = template.to_json()["Parameters"]["SmsMonthlySpendLimitUsd"]
    assert parameter["Type"] == "Number"
    [sms] = _resources(template, "Custom::AWS").values()
    create = json.dumps(sms["Properties"]["Create"])
    assert "setSMSAttributes" in create and "Transactional" in create and "SmsMonthlySpendLimitUsd" in create


# --- secrets ------------------------------------------------------------------------------------------------


def test_signing_key_secret_is_encrypted_and_rotated(template):
    secret_id, secret = next(iter(template.find_resources(
        "AWS::SecretsManager::Secret", {"Properties": {"Name": _name("token-keys")}}).items()))
    assert "KmsKeyId" in secret["Properties"]
    schedule = _one(template, "AWS::SecretsManager::RotationSchedule", SecretId={"Ref": secret_id})
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"


def test_rotation_writes_a_document_the_keyring_accepts():
    from token_rotation import next_document

    from chalicelib.adapters.keyring import Keyring

    # given the bootstrap value of a new secret, then a second rotation
    first = next_document(json.dumps({"current": "", "keys": {}, "bootstrap": "x"}), "k1")
    second = next_document(first, "k2")
    third = next_document(second, "k3")
    # then each is valid, the new key is current and exactly the previous one is still accepted
    ring = Keyring(lambda: third)
    assert ring.current()[0] == "k3"
    assert ring.get("k2") == Keyring(lambda: second).get("k2")
    assert ring.get("k1") is None
    # and the long-lived key (receipt codes, payment ids) is the same after every rotation
    assert ring.long_lived("receipt-code-v1") == Keyring(lambda: first).long_lived("receipt-code-v1")


def _provider_secrets(template):
    from chalicelib.names import PAYMENT_PROVIDER_SECRETS

    found = {}
    for logical in PAYMENT_PROVIDER_SECRETS.values():
        [(secret_id, secret)] = template.find_resources(
            "AWS::SecretsManager::Secret", {"Properties": {"Name": _name(logical)}}).items()
        found[secret_id] = secret
    return found


def test_payment_provider_secrets_are_created_empty_and_encrypted_with_the_app_key(template):
    key_id = next(iter(_resources(template, "AWS::KMS::Key")))
    secrets = _provider_secrets(template)
    assert len(secrets) == 2  # alipay, wechat
    for secret in secrets.values():
        props = secret["Properties"]
        # No value in the template, not even a generated one: the app reads "not configured" until an operator
        # puts the provider's config (a generated random string would read as a malformed config).
        assert "SecretString" not in props and "GenerateSecretString" not in props
        assert props["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert "Payment provider" in json.dumps(props["Description"])


def _readable(template, function):
    statements = [s for s in _role_statements(template, function) if s["Sid"] == "Secrets"]
    if not statements:
        return set()
    [statement] = statements
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return {r["Ref"] for r in resources}


def test_only_the_api_the_jobs_worker_and_payment_schedules_read_provider_keys(template):
    provider_secrets = set(_provider_secrets(template))
    [token_keys] = template.find_resources("AWS::SecretsManager::Secret",
                                           {"Properties": {"Name": _name("token-keys")}})
    readers = {name for name, function in _functions(template).items()
               if provider_secrets <= _readable(template, function)}
    for name, function in _functions(template).items():
        readable = _readable(template, function)
        assert token_keys in readable, name  # every function signs or checks something
        # all of the provider secrets, or none
        assert readable & provider_secrets in (set(), provider_secrets), name
    assert {"APIHandler", "HandleJobs"} <= readers
    handlers = {name: f["Properties"]["Handler"] for name, f in _functions(template).items()}
    assert {handlers[n] for n in readers} - {"app.app", "app.handle_jobs"} == {
        h for h in handlers.values() if h.startswith("app.schedule_payment_")}
    assert not readers & {n for n, h in handlers.items() if h in ("app.handle_photo_uploads", "app.handle_sms_outbox",
                                                                  "app.handle_notice_sms")}


# --- functions ----------------------------------------------------------------------------------------------


def _functions(template):
    return _resources(template, "AWS::Serverless::Function")


def _role_statements(template, function):
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    [policy] = template.to_json()["Resources"][role_id]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def test_every_chalice_function_has_least_privilege_iam(template):
    functions = _functions(template)
    assert {"APIHandler", "HandleJobs"} <= set(functions)
    for function in functions.values():
        for statement in _role_statements(template, function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in a for a in actions), statement
            if statement["Sid"] == "SmsToPhoneNumbers":
                assert actions == ["sns:Publish"] and statement["Condition"]
            else:
                # Object ARNs (`<bucket arn>/*`) and index ARNs (`<table arn>/index/*`) are scoped wildcards.
                scoped = json.dumps(statement["Resource"]).replace("/index/*", "").replace('"/*"', "")
                assert statement["Resource"] != "*" and "*" not in scoped, statement


def test_only_a_queue_consumer_may_receive_from_its_queue(template):
    sids = {name: {s["Sid"] for s in _role_statements(template, f)} for name, f in _functions(template).items()}
    assert "ConsumeOwnQueue" in sids["HandleJobs"]
    assert "ConsumeOwnQueue" not in sids["APIHandler"]


def test_jobs_consumer_reports_partial_batch_failures(template):
    events = _functions(template)["HandleJobs"]["Properties"]["Events"]
    [event] = events.values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["Queue"]["Fn::GetAtt"][1] == "Arn"


def test_every_function_has_a_log_group_with_retention(template):
    groups = {g["Properties"]["LogGroupName"]: g["Properties"].get("RetentionInDays")
              for g in _resources(template, "AWS::Logs::LogGroup").values()
              if isinstance(g["Properties"]["LogGroupName"], str)}
    for function in _functions(template).values():
        assert groups[f"/aws/lambda/{function['Properties']['FunctionName']}"] == 14


# --- API ----------------------------------------------------------------------------------------------------


def test_unknown_routes_and_missing_tokens_answer_404_not_found(template):
    api = _functions(template) and _resources(template, "AWS::Serverless::Api")["RestAPI"]
    responses = api["Properties"]["GatewayResponses"]
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "RESOURCE_NOT_FOUND"):
        assert responses[kind]["StatusCode"] == 404
        body = json.loads(responses[kind]["ResponseTemplates"]["application/json"])
        assert body == {"code": "not_found", "message": "Not found"}
    assert "$context.error.messageString" in responses["DEFAULT_4XX"]["ResponseTemplates"]["application/json"]
    assert json.loads(responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"])["code"] == "internal_error"
    assert responses["THROTTLED"]["StatusCode"] == 429


def test_stage_is_throttled(template):
    api = _resources(template, "AWS::Serverless::Api")["RestAPI"]
    [settings] = api["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] >= settings["ThrottlingRateLimit"]


# --- alarms -------------------------------------------------------------------------------------------------


def test_alarms_go_to_the_ops_topic(template):
    ops = next(k for k, t in _resources(template, "AWS::SNS::Topic").items()
               if t["Properties"]["TopicName"] == _name("ops-alarms"))
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": ops}]
    metrics = json.dumps(alarms)
    assert "5XXError" in metrics and "SMSMonthToDateSpentUSD" in metrics
    assert "ApproximateNumberOfMessagesVisible" in metrics
    lambda_alarms = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"]
    assert len(lambda_alarms) == len(_functions(template))


def test_template_has_no_unresolved_placeholders(template):
    assert Match is not None
    assert "${Token[" not in json.dumps(template.to_json())


# --- package -----------------------------------------------------------------------------------------------


def test_the_package_ships_bytecode_the_runtime_loads(synthesized, tmp_path):
    """Every module of the app is in the zip compiled for the functions' runtime, and the interpreter runs
    that bytecode: with every source in the unpacked zip replaced by one that raises, `import app` works."""
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    from lambda_bytecode import runtime_of

    stack, _ = synthesized
    runtimes = {f["Properties"]["Runtime"] for f in stack.functions.values()}
    assert runtimes == {runtime_of()}
    with zipfile.ZipFile(Path(stack.app._sam_package_dir) / "deployment.zip") as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    tag = sys.implementation.cache_tag
    sources = sorted(name for name in names if name.endswith(".py"))
    assert "app.py" in sources and "chalicelib/deps.py" in sources
    missing = [name for name in sources
               if f"{name.rpartition('/')[0] + '/' if '/' in name else ''}__pycache__/"
                  f"{name.rpartition('/')[2][:-3]}.{tag}.pyc" not in names]
    assert missing == []
    for name in sources:
        (tmp_path / name).write_text("raise RuntimeError('the source was read, not the bytecode')\n")
    done = subprocess.run([sys.executable, "-B", "-c", "import app; from chalicelib import deps, routes; print('ok')"],
                          cwd=tmp_path, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": ""},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok"]
