"""Exit with a clear message when no AWS credentials are configured (used by `make deploy` / `make diff`)."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is in requirements-dev.txt
        print("boto3 is missing: run `make install`", file=sys.stderr)
        return 2
    session = boto3.Session()
    if session.get_credentials() is None:
        print(
            "No AWS credentials found. Deploying needs an account: configure a profile "
            "(`aws configure sso` or `aws configure`) and export AWS_PROFILE, or set AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY, then bootstrap once: `npx cdk bootstrap aws://ACCOUNT/REGION`.\n"
            "Nothing was deployed. `make demo` and `make test` need no account.",
            file=sys.stderr,
        )
        return 2
    try:
        identity = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        print(f"AWS credentials were found but do not work: {exc}", file=sys.stderr)
        return 2
    print(f"deploying as {identity['Arn']} in {session.region_name or '(region from the CDK environment)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
