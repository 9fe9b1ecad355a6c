"""Day-one operations against a deployed stage, with the operator's AWS credentials:

    python -m infra.ops <stage> first-admin <user_id> <name> [--email EMAIL]
    python -m infra.ops <stage> partner <partner_id> <label>
    python -m infra.ops <stage> aggregates [--fix]
    python -m infra.ops <stage> clocks
    python -m infra.ops <stage> loads

`first-admin` writes the user (role admin) into the stage's users table and, where the stage signs in
through its Cognito user pool, creates the pool user (Cognito mails a temporary password) in the
`admin` group. With the company's own OIDC issuer (AWS China), the IdP account is made there: its
`preferred_username` (or `sub`) must be `<user_id>` and its groups claim must carry `admin`.
`partner` registers a partner and prints its new API key once (only its SHA-256 is stored).
`aggregates` recomputes the dashboard counters from the leads (a Scan: offline) and prints every
difference; `--fix` repairs them. Run it after a stream failure alarm, once the stream is drained.
`clocks` keys the leads of a stage deployed before the sweep's one index (`by_clock_keys`) in it
(a Scan, idempotent): the deploy that adds that index runs it (docs/operations.md).
`loads` recounts each rep's held leads (the `open` count `max_open` bounds) from the leads they own in
a working status, once per stage (docs/operations.md).
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any


def _use_stage(stage: str) -> None:
    """Table names and region of the stage, set before anything imports the table models."""
    from infra.package import _stage_environment, stages

    os.environ["TABLE_PREFIX"] = _stage_environment(stage)["TABLE_PREFIX"]
    os.environ["STAGE"] = stage
    os.environ.setdefault("AWS_DEFAULT_REGION", stages()[stage]["region"])


def first_admin(user_id: str, name: str) -> None:
    from chalicelib.store import directory

    directory.put_user(user_id, name, "admin", None)


def onboard_partner(partner_id: str, label: str, at: str) -> str:
    from chalicelib.store import directory

    directory.put_partner(partner_id, label)
    return directory.create_api_key(partner_id, at)


def check_aggregates(fix: bool) -> dict[str, Any]:
    from chalicelib.services import aggregates

    return aggregates.verify(fix=fix)


def _stack_output(stage: str, key: str) -> str | None:  # pragma: no cover - needs an AWS account
    import boto3

    from infra.package import merge_template

    stack = f"{merge_template(stage)['Parameters']['AppName']['Default']}-{stage}"
    outputs: list[dict[str, Any]] = boto3.client("cloudformation").describe_stacks(
        StackName=stack)["Stacks"][0].get("Outputs", [])
    return next((o["OutputValue"] for o in outputs if o["OutputKey"] == key), None)


def _cognito_admin(pool_id: str, user_id: str, email: str | None) -> None:  # pragma: no cover - needs AWS
    import boto3

    cognito = boto3.client("cognito-idp")
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}] if email else []
    cognito.admin_create_user(UserPoolId=pool_id, Username=user_id, UserAttributes=attributes,
                              DesiredDeliveryMediums=["EMAIL"] if email else [])
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=user_id, GroupName="admin")


def main() -> None:  # pragma: no cover - needs an AWS account
    from infra.package import stages

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(stages()))
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("first-admin")
    admin.add_argument("user_id")
    admin.add_argument("name")
    admin.add_argument("--email")
    partner = commands.add_parser("partner")
    partner.add_argument("partner_id")
    partner.add_argument("label")
    counters = commands.add_parser("aggregates")
    counters.add_argument("--fix", action="store_true")
    commands.add_parser("clocks")
    commands.add_parser("loads")
    args = parser.parse_args()
    _use_stage(args.stage)
    if args.command == "first-admin":
        first_admin(args.user_id, args.name)
        if stages()[args.stage]["user_pool"]:
            pool_id = _stack_output(args.stage, "UserPoolId")
            if pool_id is None:
                raise SystemExit("the stack has no UserPoolId output: deploy the stage first")
            _cognito_admin(pool_id, args.user_id, args.email)
        print(f"admin {args.user_id} created in {args.stage}")
    elif args.command == "clocks":
        from chalicelib.store import leads

        print(f"{leads.migrate_clocks()} leads keyed in by_clock_keys")
    elif args.command == "loads":
        from chalicelib.store import ownership
        from chalicelib.store.schema import UserModel

        users = [user.user_id for user in UserModel.scan(attributes_to_get=["user_id"])]
        print(f"{ownership.recount_held(users)} reps' held counts recounted")
    elif args.command == "aggregates":
        import json

        print(json.dumps(check_aggregates(args.fix), ensure_ascii=False, indent=2))
    else:
        key = onboard_partner(args.partner_id, args.label, datetime.now(UTC).isoformat())
        print(key)


if __name__ == "__main__":
    main()
