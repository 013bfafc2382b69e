"""Creates the users table and the Clerk secret on the local stack; prints the secret's ARN.

Idempotent: an existing table is kept, an existing secret gets the development values again.
The table comes from infra/users-table.json, the single definition the store's tests and
template.yaml are checked against.
"""

import json
import os
import pathlib
import sys

import boto3

INFRA = pathlib.Path(__file__).resolve().parent


def main() -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ["AWS_REGION"]
    table = os.environ["USERS_TABLE"]
    secret_name = os.environ["CLERK_SECRET_NAME"]

    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    spec = json.loads((INFRA / "users-table.json").read_text())
    ttl = spec.pop("TimeToLiveSpecification")
    try:
        ddb.create_table(TableName=table, **spec)
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
        print(f"local-stack: created table {table}", file=sys.stderr)
    except ddb.exceptions.ResourceInUseException:
        pass

    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region)
    value = (INFRA / "dev-secrets.json").read_text()
    try:
        arn = sm.create_secret(Name=secret_name, SecretString=value)["ARN"]
        print(f"local-stack: created secret {secret_name}", file=sys.stderr)
    except sm.exceptions.ResourceExistsException:
        arn = sm.put_secret_value(SecretId=secret_name, SecretString=value)["ARN"]
    print(arn)


if __name__ == "__main__":
    main()
