"""Checking that the S3 objects an execution input names exist, with S3's answers turned into InvalidInput.

A validator heads every object it is given before anything starts. What S3 (or botocore, before any
request) says about a bad bucket or key is the input's fault and becomes InvalidInput naming the field;
throttling, server errors and network failures are not, and propagate unchanged.
"""

from __future__ import annotations

from botocore.exceptions import ClientError, ParamValidationError

from workloads.common.execution_input import MAX_ECHO_CHARS, InvalidInput, shorten

MISSING_OBJECT = {"404", "NoSuchKey", "NotFound"}
MISSING_BUCKET = {"NoSuchBucket"}
REFUSED = {"403", "AccessDenied", "Forbidden"}
BAD_REQUEST = {"400", "InvalidBucketName", "KeyTooLongError", "InvalidArgument", "InvalidRequest"}


def require_objects(client, bucket: str, keys: dict[str, str]) -> None:
    """InvalidInput naming every field whose object in `bucket` is missing or cannot be read.

    `keys`: field name (as the user wrote it) -> S3 key."""
    missing, refused = [], []
    for field, key in keys.items():
        where = f"{field} {shorten(f's3://{bucket}/{key}', MAX_ECHO_CHARS)}"
        try:
            client.head_object(Bucket=bucket, Key=key)
        except ParamValidationError:
            raise InvalidInput(f"{where}: not a valid S3 bucket name and key") from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING_OBJECT:
                missing.append(where)
            elif code in MISSING_BUCKET:
                raise InvalidInput(f"{where}: the bucket does not exist") from None
            elif code in REFUSED:
                refused.append(f"{where} ({code})")  # the code tells a refusal from a missing object
            elif code in BAD_REQUEST:
                raise InvalidInput(f"{where}: S3 refuses it ({code})") from None
            else:
                raise
    problems = []
    if missing:
        problems.append(f"not found: {', '.join(missing)}")
    if refused:
        # without s3:ListBucket, S3 answers a HEAD of a missing key with 403 rather than 404
        problems.append(f"not readable (missing, or this workflow's role may not read it): {', '.join(refused)}")
    if problems:
        raise InvalidInput("; ".join(problems))
