"""AWS errors as one line that names the cause and the fix: the one translation every command uses.

botocore raises precise exceptions whose default text ("Unable to locate credentials") says what went
wrong but not what to do. `explain` turns the ones a person can fix into a sentence with the fix;
anything it does not know returns None, so the caller lets it propagate (a bug should keep its traceback).
`require_bucket` is the check an upload makes before any work: credentials, then the bucket.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    UnauthorizedSSOTokenError,
)

CONFIGURE = "configure a profile (`aws configure sso`, then `export AWS_PROFILE=<name>`) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"}
REFUSED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden"}
MISSING_BUCKET = {"NoSuchBucket", "404"}
MISSING_EXECUTION = {"ExecutionDoesNotExist", "StateMachineDoesNotExist", "InvalidArn"}


def explain(exc: BaseException, *, region_option: bool = False, region_given: bool = False) -> str | None:
    """One line naming the cause and the fix, or None for an error this module does not know.

    `region_option`: the command has --region (so the fix for a missing region may mention it);
    `region_given`: the user passed it (then it is never suggested as the fix)."""
    if isinstance(exc, ProfileNotFound):
        return (f"AWS profile {exc.kwargs.get('profile')!r} does not exist (AWS_PROFILE): list the "
                "profiles with `aws configure list-profiles`, or unset AWS_PROFILE")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"no AWS credentials found: {CONFIGURE}. `hpcx demo` and the local runs need no account"
    if isinstance(exc, SSOTokenLoadError | UnauthorizedSSOTokenError):
        return "the AWS SSO session has expired or was never started: run `aws sso login` and try again"
    if isinstance(exc, NoRegionError):
        hint = " or pass --region" if region_option and not region_given else ""
        return f"no AWS region configured: `export AWS_REGION=<region>`{hint} (or set one in the profile)"
    if isinstance(exc, EndpointConnectionError):
        return (f"cannot reach {exc.kwargs.get('endpoint_url')}: check the network (proxy, VPN, firewall) and "
                "that the region is right; nothing was started")
    if isinstance(exc, ClientError):
        return _client_error(exc)
    return None


def _client_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", "")).strip()
    operation = exc.operation_name
    if code in EXPIRED:
        return f"{operation}: the AWS credentials have expired or are not valid ({code}): `aws sso login` or refresh them"
    if code in REFUSED:
        return (f"{operation} was refused ({code}): the identity you run as needs that permission "
                f"(`aws sts get-caller-identity` shows which identity it is){': ' + message if message else ''}")
    if code == "ValidationError" and "does not exist" in message:
        return f"{operation}: {message}: deploy it first (`hpcx deploy BatchStack`), or name the deployed stack with --stack"
    if code in MISSING_EXECUTION:
        return (f"{operation}: {message or code}: check the ARN (it names the region and account the execution "
                "ran in), or list executions with `aws stepfunctions list-executions --state-machine-arn ...`")
    if code in MISSING_BUCKET and operation in ("HeadBucket", "ListObjectsV2", "PutObject"):
        return f"{operation}: the bucket does not exist in this account: use the DataBucket output of the deployed stack"
    return f"AWS refused {operation} ({code}): {message or 'no message'}"


def require_bucket(session, bucket: str) -> None:
    """Credentials, then the bucket: raise what `explain` turns into one line, before any work starts."""
    if session.get_credentials() is None:
        raise NoCredentialsError()
    session.client("s3").head_bucket(Bucket=bucket)
