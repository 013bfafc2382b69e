#!/usr/bin/env python3
"""Reads template.yaml for the tooling: one source of truth for tables and routes.

usage:
  tools/template.py check-table   # exit 1 unless UsersTable agrees with infra/users-table.json
  tools/template.py routes        # the authorizer and HttpApi routes as JSON, for the local gateway
  tools/template.py check-limits  # exit 1 unless the deployed limits and guard rules are in place
  tools/template.py check-environment  # exit 1 when a function's environment passes Lambda's 4 KB
  tools/template.py check-policies     # exit 1 when RoutePolicies names a route the API lacks
"""

import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """Keeps CloudFormation tags (!Ref, !Sub, …) as {"Tag": value} instead of failing."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)


def check_table() -> int:
    table = template()["Resources"]["UsersTable"]["Properties"]
    spec = json.loads((ROOT / "infra" / "users-table.json").read_text())
    wrong = [key for key, value in spec.items() if table.get(key) != value]
    for key in wrong:
        print(f"template.yaml UsersTable.{key} differs from infra/users-table.json", file=sys.stderr)
    if not wrong:
        print(f"template.yaml UsersTable agrees with infra/users-table.json ({len(spec)} properties)")
    return 1 if wrong else 0


def routes() -> int:
    resources = template()["Resources"]
    out = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = props.get("Auth", {}).get("Authorizer", "DEFAULT")
            out.append({
                "function": name,
                "binary": binary,
                "method": props["Method"].upper(),
                "path": props["Path"],
                "authorized": authorizer != "NONE",
            })
    api = next(r for r in resources.values() if r.get("Type") == "AWS::Serverless::HttpApi")
    auth = api["Properties"]["Auth"]
    default = auth["Authorizers"][auth["DefaultAuthorizer"]]
    authorizer_resource = default["FunctionArn"]["GetAtt"].split(".")[0]
    authorizer = resources[authorizer_resource]["Metadata"]["BuildProperties"]["Binary"]
    identity = default.get("Identity", {})
    unsupported = sorted(set(identity) - {"Headers", "Context", "ReauthorizeEvery"})
    unsupported += [f"Context.{c}" for c in identity.get("Context", []) if c != "routeKey"]
    if "ReauthorizeEvery" not in identity:
        # The service default is not documented for HTTP APIs: the template must say.
        print("tools/template.py: set Identity.ReauthorizeEvery on the authorizer", file=sys.stderr)
        return 1
    if unsupported:
        # The local gateway would not know how to key its cache by them.
        print(f"tools/template.py: identity sources {unsupported} are not emulated", file=sys.stderr)
        return 1
    print(json.dumps({
        "authorizer": authorizer,
        # API Gateway's cache key and 401-without-invoking check, as SAM configures them.
        "identity_headers": identity.get("Headers", []),
        # $context.routeKey among the identity sources: one cached answer per route.
        "identity_route_key": "routeKey" in identity.get("Context", []),
        "ttl_seconds": int(identity["ReauthorizeEvery"]),
        "cors": cors(api["Properties"].get("CorsConfiguration"), template()["Parameters"]),
        # What SAM passes a function: only the variables the template declares.
        "environment": sorted(
            template().get("Globals", {}).get("Function", {})
            .get("Environment", {}).get("Variables", {})
        ),
        # The authorizer's own variables with their parameters' defaults (ROUTE_POLICIES).
        "authorizer_environment": {
            name: resolve_default(value, template()["Parameters"])
            for name, value in resources[authorizer_resource]["Properties"]
            .get("Environment", {}).get("Variables", {}).items()
        },
        "routes": out,
    }, indent=2))
    return 0


def cors(config, params):
    """The HTTP API's CorsConfiguration, parameters resolved to their defaults (None: no CORS)."""
    if not config:
        return None

    def resolve(value):
        if isinstance(value, dict) and "Ref" in value:
            default = params[value["Ref"]].get("Default", "")
            return [v.strip() for v in str(default).split(",") if v.strip()]
        return value

    return {
        "allow_origins": resolve(config.get("AllowOrigins", [])),
        "allow_methods": resolve(config.get("AllowMethods", [])),
        "allow_headers": resolve(config.get("AllowHeaders", [])),
        "expose_headers": resolve(config.get("ExposeHeaders", [])),
        "max_age": config.get("MaxAge"),
        "allow_credentials": bool(config.get("AllowCredentials", False)),
    }


def resolve_default(value, params):
    """A value with a !Ref to a parameter replaced by the parameter's default."""
    if isinstance(value, dict) and "Ref" in value and value["Ref"] in params:
        return str(params[value["Ref"]].get("Default", ""))
    return value if isinstance(value, str) else ""


# Lambda: "The total size of all environment variables doesn't exceed 4 KB" (keys and values).
LAMBDA_ENVIRONMENT_LIMIT = 4096
# What a reference to a resource (an ARN, a table name) may take once deployed.
RESOURCE_VALUE_ALLOWANCE = 256


def check_environment_size() -> int:
    """Each function's environment, parameters at their defaults, fits Lambda's 4 KB."""
    t = template()
    params, resources = t["Parameters"], t["Resources"]
    globals_vars = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    problems = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        variables = {}
        for key, value in {**globals_vars, **own}.items():
            if isinstance(value, str):
                variables[key] = value
            elif isinstance(value, dict) and value.get("Ref") in params:
                variables[key] = resolve_default(value, params)
            else:
                variables[key] = "x" * RESOURCE_VALUE_ALLOWANCE
        # Counted as Lambda stores the set: one JSON object, quotes and escapes included.
        size = len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())
        if size > LAMBDA_ENVIRONMENT_LIMIT:
            problems.append(f"{name}'s environment is {size} bytes, over Lambda's {LAMBDA_ENVIRONMENT_LIMIT}")
        else:
            print(f"template.yaml: {name}'s environment {size} of {LAMBDA_ENVIRONMENT_LIMIT} bytes")
    for problem in problems:
        print(f"template.yaml: {problem}", file=sys.stderr)
    return 1 if problems else 0


def check_policies() -> int:
    """Every key of the default RoutePolicies names an authorized route of the template: a
    key that names no route is never enforced (HTTP APIs match policies by routeKey)."""
    import re

    t = template()
    document = json.loads(t["Parameters"]["RoutePolicies"].get("Default") or "{}")
    def shape(key):
        # Parameter names do not matter; greedy and single-segment parameters do.
        return re.sub(r"\{[^}/+]+\}", "{}", re.sub(r"\{[^}/]+\+\}", "{+}", key))

    declared = set()
    for resource in t["Resources"].values():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            props = event.get("Properties", {})
            if event.get("Type") == "HttpApi" and props.get("Auth", {}).get("Authorizer") != "NONE":
                declared.add(shape(f"{props['Method'].upper()} {props['Path']}"))
    unknown = [key for key in document if key != "$default" and shape(key) not in declared]
    for key in unknown:
        print(f"template.yaml: RoutePolicies names {key!r}, which is no authorized route", file=sys.stderr)
    if not unknown:
        print(f"template.yaml: RoutePolicies' {len(document)} route(s) are routes of the API")
    return 1 if unknown else 0


def check_limits() -> int:
    """The deployed limits docs/deploy.md promises, with defaults that deploy on any account."""
    t = template()
    params, resources, rules = t["Parameters"], t["Resources"], t.get("Rules", {})
    api = next(r for r in resources.values() if r.get("Type") == "AWS::Serverless::HttpApi")
    webhook = resources["WebhookFunction"]["Properties"]
    problems = []
    throttle = api["Properties"].get("DefaultRouteSettings", {})
    for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        if throttle.get(key) != {"Ref": key} or key not in params:
            problems.append(f"HttpApi DefaultRouteSettings.{key} must be the {key} parameter")
    for function in ("Webhook", "Authorizer", "Users", "Reconcile"):
        param = f"{function}ReservedConcurrency"
        props = resources[f"{function}Function"]["Properties"]
        reserved = props.get("ReservedConcurrentExecutions")
        if reserved != {"If": [f"Reserve{function}Concurrency", {"Ref": param},
                               {"Ref": "AWS::NoValue"}]}:
            problems.append(f"{function}Function ReservedConcurrentExecutions must be the optional {param}")
        if params.get(param, {}).get("Default") != 0:
            # A reservation by default fails on accounts with a total concurrency of 10.
            problems.append(f"{param} must default to 0 (no reservation)")
    if t["Globals"]["Function"].get("Tracing") != {"Ref": "Tracing"} or "Tracing" not in params:
        problems.append("Globals Function Tracing must be the Tracing parameter")
    problems += reconcile_problems(t)
    problems += access_log_problems(api, resources)
    problems += kms_problems(t)
    problems += alarm_problems(t)
    if "AuthorizedPartiesInProduction" not in rules:
        problems.append("rule AuthorizedPartiesInProduction is missing")
    # The development bypass is for local work only: nothing deployable may turn it on.
    if "AuthDisabled" in params:
        problems.append("the AuthDisabled parameter must not exist (the bypass is local only)")
    variables = t["Globals"]["Function"]["Environment"]["Variables"]
    if variables.get("AUTH_DISABLED") != "false":
        problems.append('Globals AUTH_DISABLED must be the literal "false"')
    for name, resource in resources.items():
        env = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if "AUTH_DISABLED" in env:
            problems.append(f"{name} must not set AUTH_DISABLED")
    for problem in problems:
        print(f"template.yaml: {problem}", file=sys.stderr)
    if not problems:
        print("template.yaml: throttling, webhook reservation and guard rules in place")
    return 1 if problems else 0


def reconcile_problems(t) -> list:
    """The reconciliation runs on a schedule that is a parameter (daily by default) with a
    switch to turn it off, within a timeout that is a parameter, never retried (the next
    run resumes from its checkpoint), and can reach only the table and the secret."""
    params, resources = t["Parameters"], t["Resources"]
    problems = []
    props = resources.get("ReconcileFunction", {}).get("Properties", {})
    schedule = props.get("Events", {}).get("Schedule", {})
    if schedule.get("Type") != "Schedule":
        return ["ReconcileFunction must have a Schedule event"]
    sp = schedule.get("Properties", {})
    if sp.get("Schedule") != {"Ref": "ReconcileSchedule"} or params.get("ReconcileSchedule", {}).get("Default") != "rate(1 day)":
        problems.append("the reconciliation's schedule must be the ReconcileSchedule parameter, daily by default")
    if sp.get("State") != {"If": ["ReconcileOnSchedule", "ENABLED", "DISABLED"]} or "ReconcileEnabled" not in params:
        problems.append("ReconcileEnabled must switch the schedule on and off")
    if props.get("Timeout") != {"Ref": "ReconcileTimeout"}:
        problems.append("ReconcileFunction Timeout must be the ReconcileTimeout parameter")
    if props.get("EventInvokeConfig", {}).get("MaximumRetryAttempts") != 0:
        problems.append("ReconcileFunction must not be retried (the next run resumes)")
    resources_named = [s.get("Resource") for s in props.get("Policies", [{}])[0].get("Statement", [])
                       if isinstance(s, dict) and "Effect" in s]
    allowed = [[{"GetAtt": "UsersTable.Arn"}, {"Sub": "${UsersTable.Arn}/index/*"}],
               {"If": ["CreateSecret", {"Ref": "ClerkSecret"}, {"Ref": "ExistingClerkSecretArn"}]}]
    if resources_named != allowed:
        problems.append(f"ReconcileFunction may reach only the table, its indexes and the secret: {resources_named}")
    return problems


# The alarms' metrics, as the functions emit them (shared::metrics; the binaries' tests
# read the same names from their output).
ALARM_METRICS = {("ClerkAuth", "WebhookErrors", "webhook"),
                 ("ClerkAuth", "FailClosedDenials", "authorizer"),
                 ("ClerkAuth", "Unauthorized", "authorizer")}


def alarm_problems(t) -> list:
    """Alarms only with a topic, each notifying it; the functions' alarm metrics and every
    function's Lambda Errors and Throttles covered; a dashboard."""
    params, resources = t["Parameters"], t["Resources"]
    problems = []
    if params.get("AlarmTopicArn", {}).get("Default") != "":
        problems.append("AlarmTopicArn must default to empty (no alarms)")
    alarms = {n: r["Properties"] for n, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    covered = set()
    for name, props in alarms.items():
        if resources[name].get("Condition") != "CreateAlarms":
            problems.append(f"{name} must have the CreateAlarms condition")
        if props.get("AlarmActions") != [{"Ref": "AlarmTopicArn"}]:
            problems.append(f"{name} must notify AlarmTopicArn")
        dimension = (props.get("Dimensions") or [{}])[0]
        value = dimension.get("Value")
        value = value.get("Ref") if isinstance(value, dict) else value
        covered.add((props.get("Namespace"), props.get("MetricName"), value))
    functions = [n for n, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"]
    wanted = set(ALARM_METRICS)
    wanted |= {("AWS/Lambda", metric, f) for f in functions for metric in ("Errors", "Throttles")}
    for missing in sorted(wanted - covered):
        problems.append(f"no alarm on {missing}")
    if not any(r.get("Type") == "AWS::CloudWatch::Dashboard" for r in resources.values()):
        problems.append("a dashboard must show the same")
    return problems


def kms_problems(t) -> list:
    """`KmsKeyArn`, when set, encrypts the table, the secret, every log group and the functions'
    environment, and each function may decrypt with it only through DynamoDB, Secrets Manager
    and CloudWatch Logs; when empty, nothing changes (AWS keys)."""
    params, resources = t["Parameters"], t["Resources"]
    key = {"If": ["UseKms", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    problems = []
    if params.get("KmsKeyArn", {}).get("Default") != "":
        problems.append("KmsKeyArn must default to empty (AWS keys)")
    if t["Globals"]["Function"].get("KmsKeyArn") != key:
        problems.append("Globals Function KmsKeyArn must be the optional KmsKeyArn")
    sse = resources["UsersTable"]["Properties"].get("SSESpecification", {})
    if sse.get("KMSMasterKeyId") != key or sse.get("SSEEnabled") is not True:
        problems.append("UsersTable SSESpecification must use the optional KmsKeyArn")
    if resources["ClerkSecret"]["Properties"].get("KmsKeyId") != key:
        problems.append("ClerkSecret KmsKeyId must be the optional KmsKeyArn")
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Logs::LogGroup" and resource["Properties"].get("KmsKeyId") != key:
            problems.append(f"{name} KmsKeyId must be the optional KmsKeyArn")
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        statements = resource["Properties"]["Policies"][0]["Statement"]
        granted = [s["If"][1] for s in statements if isinstance(s, dict) and "If" in s]
        services = set()
        for statement in granted:
            if statement.get("Resource") != {"Ref": "KmsKeyArn"} or "kms:Encrypt" in str(statement.get("Action")):
                problems.append(f"{name}: a KMS statement must name only the key, and never encrypt")
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", {})
            services.add(str(via.get("Sub", "")).split(".")[0])
        if services != {"dynamodb", "secretsmanager", "logs"}:
            problems.append(f"{name}: KMS use must be through dynamodb, secretsmanager and logs only ({sorted(services)})")
        skips = {s["id"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        if skips != {"CKV_AWS_116", "CKV_AWS_117"}:
            problems.append(f"{name}: checkov skips must be the DLQ and VPC checks only, each with a reason")
    return problems


ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerError": "$context.authorizer.error",
    "reason": "$context.authorizer.reason",
    "clerkUserId": "$context.authorizer.clerk_user_id",
    "sourceIp": "$context.identity.sourceIp",
}


def access_log_problems(api, resources) -> list:
    """The HTTP API's access log: JSON with the fields docs/deploy.md lists, to a log group of
    this stack with a retention, and nothing that could hold a token."""
    settings = api["Properties"].get("AccessLogSettings") or {}
    problems = []
    destination = settings.get("DestinationArn")
    # `!GetAtt Group.Arn` as the loader keeps it: {"GetAtt": "Group.Arn"}.
    target = destination.get("GetAtt") if isinstance(destination, dict) else None
    group = target.split(".")[0] if isinstance(target, str) else None
    if not group or resources.get(group, {}).get("Type") != "AWS::Logs::LogGroup":
        problems.append("HttpApi AccessLogSettings.DestinationArn must be a log group of this stack")
    elif "RetentionInDays" not in resources[group].get("Properties", {}):
        problems.append(f"{group} must have a retention")
    try:
        fields = json.loads(settings.get("Format", ""))
    except ValueError:
        return problems + ["HttpApi access log Format must be one JSON object"]
    for name, variable in ACCESS_LOG_FIELDS.items():
        if fields.get(name) != variable:
            problems.append(f"access log field {name} must be {variable}")
    lowered = settings.get("Format", "").lower()
    for leak in ("authorization", "$context.identity.apikey", "header", "token}"):
        if leak in lowered:
            problems.append(f"access log Format must not log {leak}")
    return problems


if __name__ == "__main__":
    commands = {
        "check-table": check_table,
        "routes": routes,
        "check-limits": check_limits,
        "check-environment": check_environment_size,
        "check-policies": check_policies,
    }
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]]())
