"""ObjectStore on S3 (workloads.common.store.ObjectStore). Clients come from boto3's default chain, so
AWS_ENDPOINT_URL_S3 points the same code at a local emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.exceptions import ClientError

from workloads.common.store import ObjectNotFound, PreconditionFailed

# 412: the object is not at the version named; 409: another conditional write to the key is in flight
# (S3 answers ConditionalRequestConflict then, and the writer should re-read just the same)
CONDITION_REFUSED = {"PreconditionFailed", "ConditionalRequestConflict"}


class S3Store:
    PAGE_SIZE = 1000  # keys per ListObjectsV2 page (S3's most); list() reads every page

    def __init__(self, bucket: str, client=None, *, region: str | None = None) -> None:
        """`region`: the bucket's, when it is not the caller's (AutoMon's results cross regions)."""
        self.bucket = bucket
        self.client = client or boto3.client("s3", region_name=region)

    def get(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise ObjectNotFound(f"s3://{self.bucket}/{key}") from None
            raise

    def read_json(self, key: str) -> Any:
        """The JSON document at `key`, or None when there is no such object."""
        try:
            return json.loads(self.get(key))
        except ObjectNotFound:
            return None

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        # a single PUT (up to 5 GB) is atomic: readers see the old object or the new one, never a mix
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def put_json(self, key: str, doc: Any) -> None:
        """One PUT per key: a retried step replaces its own document, never adds a second one."""
        self.put(key, json.dumps(doc, indent=2).encode(), content_type="application/json")

    def download(self, key: str, path: Path) -> Path:
        """The object into a local file (in parts, for datasets larger than memory)."""
        self.client.download_file(self.bucket, key, str(path))
        return path

    def put_tree(self, directory: Path, prefix: str) -> list[str]:
        """Every file under `directory` to <prefix><relative path>; returns the keys written."""
        keys = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            key = prefix + path.relative_to(directory).as_posix()
            self.put(key, path.read_bytes(),
                     content_type="application/json" if path.suffix == ".json" else "application/octet-stream")
            keys.append(key)
        return keys

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise ObjectNotFound(f"s3://{self.bucket}/{key}") from None
            raise
        with response["Body"] as body:
            return body.read(), response["ETag"]

    def put_if(self, key: str, data: bytes, *, etag: str | None) -> str:
        """S3 conditional write: If-Match on the tag read, or If-None-Match: * for the first write."""
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            return self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **condition)["ETag"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in CONDITION_REFUSED:
                raise PreconditionFailed(f"s3://{self.bucket}/{key} changed since it was read") from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.PAGE_SIZE})
        for page in pages:
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
