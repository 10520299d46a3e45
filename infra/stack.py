"""The stack of one stage, built from the app's own definitions (chalicelib.resources + the PynamoDB models).

Nothing here names a table, bucket, queue or topic: a resource another area adds to `RESOURCES` or a model it
adds to `table_models()` appears in the stack without touching infra/.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from chalice_app import ChaliceApp
from constructs import Construct
from definitions import ROOT, TableDef

OPS_TOPIC = "ops-alarms"
DATA_ACTIONS = {
    "dynamodb": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                 "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                 "dynamodb:ConditionCheckItem"],
    "s3": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
    "kms": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
    "sqs_send": ["sqs:SendMessage", "sqs:GetQueueUrl"],
    "sqs_consume": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes"],
}


@dataclass(frozen=True)
class StageSettings:
    log_retention: logs.RetentionDays
    throttle_rate: int  # steady requests per second for the whole stage
    throttle_burst: int
    retain_data: bool  # tables, buckets and keys survive `cdk destroy`
    upload_origins: tuple[str, ...]  # browser origins allowed to POST presigned uploads
    sms_spend_limit_usd: int


STAGES = {
    "dev": StageSettings(logs.RetentionDays.TWO_WEEKS, 50, 100, False, ("*",), 1),
    "prod": StageSettings(logs.RetentionDays.SIX_MONTHS, 500, 1000, True, ("https://owner.example.com",), 100),
}


def _attr_type(type_: str) -> dynamodb.AttributeType:
    return {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER,
            "B": dynamodb.AttributeType.BINARY}[type_]


def _projection(name: str) -> dynamodb.ProjectionType:
    return {"ALL": dynamodb.ProjectionType.ALL, "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
            "INCLUDE": dynamodb.ProjectionType.INCLUDE}[name]


def _construct_id(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.replace("_", "-").split("-"))


def _function_suffix(function: dict[str, Any]) -> str:
    """`api` for the API handler, else the handler's name (`app.handle_jobs` -> `handle-jobs`)."""
    handler = function["Properties"]["Handler"].split(".")[-1]
    return "api" if handler == "app" else handler.replace("_", "-")


class OwnerPortalStack(cdk.Stack):
    """`stage` is also the Chalice stage (`.chalice/config.json`) whose environment the Lambdas get."""

    def __init__(self, scope: Construct, stage: str, *, resources: Any, tables: list[TableDef],
                 environment: dict[str, str], with_dependencies: bool, **kwargs: Any) -> None:
        super().__init__(scope, stage, **kwargs)
        self.stage = stage
        self.settings = STAGES[stage]
        self.prefix = environment["RESOURCE_PREFIX"]
        self.removal = cdk.RemovalPolicy.RETAIN if self.settings.retain_data else cdk.RemovalPolicy.DESTROY
        self.resources_def = resources

        self.keys = self._keys(resources.keys)
        self.data_key = self.keys[0]  # the first key encrypts data at rest (tables, buckets, secrets)
        self.tables = [self._table(t) for t in tables]
        self.queues, self.dlqs = self._queues(resources.queues)
        self.buckets = [self._bucket(b) for b in resources.buckets]
        self.topics = {t.logical: self._topic(t.logical) for t in resources.topics}
        self.ops_topic = self._topic(OPS_TOPIC)
        self.secrets = {s.logical: self._secret(s) for s in resources.secrets}
        self._sms_settings()

        self.app = ChaliceApp(self, "ChaliceApp", source_dir=str(ROOT), with_dependencies=with_dependencies,
                              stage_config={"autogen_policy": False})
        self.functions = self.app.resources_of_type("AWS::Serverless::Function")
        # The names `chalice deploy` would give: the API handler, then one per event handler.
        self.function_names = {logical_id: self.name(_function_suffix(f)) for logical_id, f in self.functions.items()}
        self._wire_functions()
        self._api_settings()
        self._alarms()
        cdk.CfnOutput(self, "OpsTopicArn", value=self.ops_topic.topic_arn)

    def name(self, logical: str) -> str:
        return f"{self.prefix}-{logical}"

    # --- data ---------------------------------------------------------------------------------------------

    def _keys(self, specs: list[Any]) -> list[kms.Key]:
        keys = []
        for spec in specs:
            key = kms.Key(self, f"Key{_construct_id(spec.logical)}", description=spec.description,
                          enable_key_rotation=True, removal_policy=self.removal,
                          alias=f"alias/{self.name(spec.logical)}")
            keys.append(key)
        return keys

    def _table(self, table: TableDef) -> dynamodb.Table:
        def key(k: Any) -> dynamodb.Attribute | None:
            return None if k is None else dynamodb.Attribute(name=k.name, type=_attr_type(k.type))

        result = dynamodb.Table(
            self, f"Table{_construct_id(table.logical)}", table_name=table.name,
            partition_key=key(table.hash_key), sort_key=key(table.range_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=self.data_key,
            time_to_live_attribute=table.ttl_attribute, removal_policy=self.removal,
            deletion_protection=self.settings.retain_data,
        )
        for index in table.indexes:
            common = {"index_name": index.name, "sort_key": key(index.range_key),
                      "projection_type": _projection(index.projection),
                      "non_key_attributes": list(index.non_key_attributes) or None}
            if index.local:
                result.add_local_secondary_index(**common)
            else:
                result.add_global_secondary_index(partition_key=key(index.hash_key), **common)
        return result

    def _queues(self, specs: list[Any]) -> tuple[dict[str, sqs.Queue], dict[str, sqs.Queue]]:
        queues, dlqs = {}, {}
        for spec in specs:
            dlq = sqs.Queue(self, f"Queue{_construct_id(spec.dlq)}", queue_name=self.name(spec.dlq),
                            retention_period=cdk.Duration.days(14), enforce_ssl=True,
                            encryption=sqs.QueueEncryption.SQS_MANAGED)
            queues[spec.logical] = sqs.Queue(
                self, f"Queue{_construct_id(spec.logical)}", queue_name=self.name(spec.logical),
                visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout), enforce_ssl=True,
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count))
            dlqs[spec.dlq] = dlq
        return queues, dlqs

    def _bucket(self, spec: Any) -> s3.Bucket:
        bucket_name = self.name(spec.logical)
        cors = None
        if spec.browser_uploads:
            cors = [s3.CorsRule(allowed_methods=[s3.HttpMethods.POST],
                                allowed_origins=list(self.settings.upload_origins),
                                allowed_headers=["*"], exposed_headers=["ETag"], max_age=3000)]
        rules = [s3.LifecycleRule(id="abort-incomplete-uploads",
                                  abort_incomplete_multipart_upload_after=cdk.Duration.days(1))]
        rules += [s3.LifecycleRule(id=f"expire-{e.prefix.strip('/').replace('/', '-')}", prefix=e.prefix,
                                   expiration=cdk.Duration.days(e.days)) for e in spec.expirations]
        bucket = s3.Bucket(
            self, f"Bucket{_construct_id(spec.logical)}", bucket_name=bucket_name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, encryption=s3.BucketEncryption.KMS,
            encryption_key=self.data_key, bucket_key_enabled=True, enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, cors=cors, lifecycle_rules=rules,
            removal_policy=self.removal, auto_delete_objects=False,
        )
        # S3 -> SQS notifications as plain CloudFormation (no custom resource): the queue policy lets this
        # bucket (by its known ARN, which avoids a dependency cycle) send, and must exist before the bucket.
        configurations = []
        bucket_arn = f"arn:{self.partition}:s3:::{bucket_name}"
        for note in spec.notifications:
            queue = self.queues[note.queue]
            # One policy per queue (a second AWS::SQS::QueuePolicy would overwrite the TLS-only one).
            queue.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal("s3.amazonaws.com")], actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": bucket_arn},
                            "StringEquals": {"aws:SourceAccount": self.account}}))
            bucket.node.add_dependency(queue.node.find_child("Policy"))
            for event in note.events:
                configurations.append({
                    "Event": event, "Queue": queue.queue_arn,
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": note.prefix}]}},
                })
        if configurations:
            bucket.node.default_child.add_property_override(  # type: ignore[union-attr]
                "NotificationConfiguration.QueueConfigurations", configurations)
        return bucket

    def _topic(self, logical: str) -> sns.Topic:
        topic = sns.Topic(self, f"Topic{_construct_id(logical)}", topic_name=self.name(logical), enforce_ssl=True)
        return topic

    def _secret(self, spec: Any) -> secretsmanager.Secret:
        from chalicelib.resources import TOKEN_KEYS_SECRET

        secret = secretsmanager.Secret(
            self, f"Secret{_construct_id(spec.logical)}", secret_name=self.name(spec.logical),
            description=spec.description, encryption_key=self.data_key, removal_policy=self.removal,
            # A bootstrap value; for the signing keys the first rotation (immediately on creation) writes the
            # real document.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"current": "", "keys": {}}), generate_string_key="bootstrap"),
        )
        if spec.filled_by == "operator":
            # No value at all in the template (CloudFormation then creates the secret empty: the app reads "not
            # configured"); an operator fills it with `aws secretsmanager put-secret-value`, and a stack update
            # never overwrites what they put.
            secret.node.default_child.add_property_deletion_override("GenerateSecretString")  # type: ignore[union-attr]
        if spec.logical == TOKEN_KEYS_SECRET:
            rotation = lambda_.Function(
                self, "TokenKeyRotation", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                code=lambda_.Code.from_inline((Path(__file__).parent / "token_rotation.py").read_text()),
                timeout=cdk.Duration.seconds(30), description="Rotates the token signing keys",
                log_retention=None)
            secret.add_rotation_schedule("Rotation", rotation_lambda=rotation,
                                         automatically_after=cdk.Duration.days(30))
            logs.LogGroup(self, "TokenKeyRotationLogs", log_group_name=f"/aws/lambda/{rotation.function_name}",
                          retention=self.settings.log_retention, removal_policy=cdk.RemovalPolicy.DESTROY)
        return secret

    def _sms_settings(self) -> None:
        self.sms_spend_limit = cdk.CfnParameter(
            self, "SmsMonthlySpendLimitUsd", type="Number", min_value=1,
            default=self.settings.sms_spend_limit_usd,
            description="SNS SMS monthly spend limit (USD). Above 1 USD needs an AWS support case first.")
        self.sms_alarm_threshold = cdk.CfnParameter(
            self, "SmsSpendAlarmUsd", type="Number", min_value=0,
            default=round(self.settings.sms_spend_limit_usd * 0.8, 2),
            description="Alarm when the month's SMS spend passes this (USD), before the limit stops SMS.")
        attributes = {"DefaultSMSType": "Transactional", "MonthlySpendLimit": self.sms_spend_limit.value_as_string}
        call = cr.AwsSdkCall(service="SNS", action="setSMSAttributes", parameters={"attributes": attributes},
                             physical_resource_id=cr.PhysicalResourceId.of(f"{self.prefix}-sms-settings"))
        cr.AwsCustomResource(
            self, "SmsSettings", on_create=call, on_update=call, install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements([iam.PolicyStatement(
                actions=["sns:SetSMSAttributes"], resources=["*"])]))  # an account setting, no resource ARN

    # --- functions ----------------------------------------------------------------------------------------

    def _sqs_events(self, function: dict[str, Any]) -> dict[str, str]:
        """The function's SQS event sources: event name -> queue logical name."""
        by_name = {self.name(logical): logical for logical in self.queues}
        found = {}
        for event_name, event in (function["Properties"].get("Events") or {}).items():
            if event["Type"] != "SQS":
                continue
            queue = event["Properties"]["Queue"]
            arn = queue.get("Fn::Sub", "") if isinstance(queue, dict) else queue
            queue_name = arn.rsplit(":", 1)[-1]
            if queue_name not in by_name:
                raise ValueError(f"an SQS handler listens on {queue_name}, which chalicelib.resources does not define")
            found[event_name] = by_name[queue_name]
        return found

    def _wire_functions(self) -> None:
        specs = {q.logical: q for q in self.resources_def.queues}
        self.log_groups: dict[str, logs.CfnLogGroup] = {}
        for logical_id, function in self.functions.items():
            cfn_function = self.app.get_resource(logical_id)
            # A known name lets the log group (and the role's right to write to it) exist before the function.
            function_name = self.function_names[logical_id]
            cfn_function.add_property_override("FunctionName", function_name)
            log_group = logs.LogGroup(
                self, f"{logical_id}Logs", retention=self.settings.log_retention,
                log_group_name=f"/aws/lambda/{function_name}", removal_policy=cdk.RemovalPolicy.DESTROY)
            consumed = self._sqs_events(function)
            for event_name, logical in consumed.items():
                base = f"Events.{event_name}.Properties"
                cfn_function.add_property_override(f"{base}.Queue", self.queues[logical].queue_arn)
                if specs[logical].partial_batch_responses:
                    cfn_function.add_property_override(f"{base}.FunctionResponseTypes", ["ReportBatchItemFailures"])
            role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
            document = self._policy(log_group, [self.queues[q] for q in consumed.values()],
                                    self._readable_secrets(_function_suffix(function)))
            self.app.get_resource(role_id).add_property_override(
                "Policies", [{"PolicyName": f"{logical_id}LeastPrivilege", "PolicyDocument": document.to_json()}])

    def _readable_secrets(self, suffix: str) -> list[secretsmanager.Secret]:
        """The secrets function `suffix` (`api`, `handle-jobs`, `schedule-<job>`) may read: a spec's readers,
        or every function when it names none."""
        return [self.secrets[spec.logical] for spec in self.resources_def.secrets
                if not spec.readers or any(fnmatch.fnmatchcase(suffix, pattern) for pattern in spec.readers)]

    def _policy(self, log_group: logs.LogGroup, consumed: list[sqs.Queue],
                secrets: list[secretsmanager.Secret]) -> iam.PolicyDocument:
        """What every function of the app may do, plus consuming its own queues; explicit actions only."""
        statements = [
            iam.PolicyStatement(sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[log_group.log_group_arn]),
        ]
        if self.tables:
            arns = []
            for table in self.tables:
                arns.append(table.table_arn)
                arns.append(cdk.Fn.join("", [table.table_arn, "/index/*"]))
            statements.append(iam.PolicyStatement(sid="Tables", actions=DATA_ACTIONS["dynamodb"], resources=arns))
        if self.buckets:
            statements.append(iam.PolicyStatement(sid="Objects", actions=DATA_ACTIONS["s3"],
                                                  resources=[b.arn_for_objects("*") for b in self.buckets]))
        if self.queues:
            statements.append(iam.PolicyStatement(sid="SendJobs", actions=DATA_ACTIONS["sqs_send"],
                                                  resources=[q.queue_arn for q in self.queues.values()]))
        if consumed:
            statements.append(iam.PolicyStatement(sid="ConsumeOwnQueue", actions=DATA_ACTIONS["sqs_consume"],
                                                  resources=[q.queue_arn for q in consumed]))
        if self.topics:
            statements.append(iam.PolicyStatement(sid="Topics", actions=["sns:Publish"],
                                                  resources=[t.topic_arn for t in self.topics.values()]))
        statements.append(iam.PolicyStatement(
            sid="SmsToPhoneNumbers", actions=["sns:Publish"], resources=["*"],
            conditions={"Null": {"sns:Protocol": "true"}}))  # direct SMS has no resource ARN to name
        if secrets:
            statements.append(iam.PolicyStatement(sid="Secrets", actions=["secretsmanager:GetSecretValue"],
                                                  resources=[s.secret_arn for s in secrets]))
        statements.append(iam.PolicyStatement(sid="DataKey", actions=DATA_ACTIONS["kms"],
                                              resources=[k.key_arn for k in self.keys]))
        return iam.PolicyDocument(statements=statements)

    # --- API ----------------------------------------------------------------------------------------------

    def _api_settings(self) -> None:
        api = self.app.get_resource("RestAPI")
        api.add_property_override("MethodSettings", [{
            "ResourcePath": "/*", "HttpMethod": "*",
            "ThrottlingRateLimit": self.settings.throttle_rate, "ThrottlingBurstLimit": self.settings.throttle_burst,
            "MetricsEnabled": True,
        }])

        def response(status: int, code: str, message: str | None = None) -> dict[str, Any]:
            text = json.dumps(message) if message else "$context.error.messageString"
            return {
                "StatusCode": status,
                "ResponseParameters": {"Headers": {"X-Request-Id": "context.requestId"}},
                "ResponseTemplates": {"application/json": f'{{"code": "{code}", "message": {text}}}'},
            }

        api.add_property_override("GatewayResponses", {
            # An unknown route is answered by API Gateway as a missing token: API.md wants 404 not_found.
            "MISSING_AUTHENTICATION_TOKEN": response(404, "not_found", "Not found"),
            "RESOURCE_NOT_FOUND": response(404, "not_found", "Not found"),
            "REQUEST_TOO_LARGE": response(413, "payload_too_large", "Request body too large"),
            "THROTTLED": {**response(429, "rate_limited", "Too many requests"),
                          "ResponseParameters": {"Headers": {"X-Request-Id": "context.requestId",
                                                             "Retry-After": "'1'"}}},
            "DEFAULT_4XX": response(400, "bad_request"),
            "DEFAULT_5XX": response(500, "internal_error", "Internal error"),
        })
        for gateway in ("DEFAULT_4XX",):  # keep the status API Gateway chose for other 4XX responses
            api.add_property_deletion_override(f"GatewayResponses.{gateway}.StatusCode")

    # --- alarms -------------------------------------------------------------------------------------------

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str,
               op: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
               ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(self, construct_id, metric=metric, threshold=threshold, evaluation_periods=1,
                                 comparison_operator=op, alarm_description=description,
                                 treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(cw_actions.SnsAction(self.ops_topic))
        return alarm

    def _alarms(self) -> None:
        five = cdk.Duration.minutes(5)
        api_name = self.app.sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
        dims = {"ApiName": api_name, "Stage": self.app.sam["Resources"]["RestAPI"]["Properties"]["StageName"]}
        errors = cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="5XXError", dimensions_map=dims,
                                   statistic="Sum", period=five)
        count = cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="Count", dimensions_map=dims,
                                  statistic="Sum", period=five)
        rate = cloudwatch.MathExpression(expression="IF(requests >= 20, 100 * errors / requests, 0)",
                                         using_metrics={"errors": errors, "requests": count}, period=five,
                                         label="5xx rate (%)")
        self._alarm("Api5xxRate", rate, 1, "More than 1% of API requests answered 5xx over 5 minutes")
        for logical_id in self.functions:
            metric = cloudwatch.Metric(namespace="AWS/Lambda", metric_name="Errors", statistic="Sum", period=five,
                                       dimensions_map={"FunctionName": self.function_names[logical_id]})
            self._alarm(f"{logical_id}Errors", metric, 1, f"Lambda {logical_id} raised errors")
        for logical, dlq in self.dlqs.items():
            self._alarm(f"Dlq{_construct_id(logical)}Depth", dlq.metric_approximate_number_of_messages_visible(
                period=five, statistic="Maximum"), 1, f"Messages are waiting in the dead-letter queue {logical}")
        spend = cloudwatch.Metric(namespace="AWS/SNS", metric_name="SMSMonthToDateSpentUSD", statistic="Maximum",
                                  period=cdk.Duration.hours(1))
        self._alarm("SmsSpend", spend, self.sms_alarm_threshold.value_as_number,
                    "SMS spend this month is close to the monthly spend limit")
