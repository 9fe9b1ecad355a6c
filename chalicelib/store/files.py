"""The import bucket: uploaded files under `imports/`, error reports, templates and exports.
The S3 client is created on first use (most functions never touch the bucket)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

from chalicelib.errors import NotFound, StoreUnavailable
from chalicelib.settings import get_settings
from chalicelib.store.aws_errors import aws_errors

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@lru_cache(maxsize=1)
def s3() -> Any:
    from chalicelib.store.connection import client

    return client("s3")


def _bucket() -> str:
    return get_settings().import_bucket


def read(key: str, max_bytes: int) -> bytes | None:
    """The object's bytes, or None when it is larger than `max_bytes` (not downloaded then)."""
    from botocore.exceptions import ClientError

    try:
        response = s3().get_object(Bucket=_bucket(), Key=key)
        if response["ContentLength"] > max_bytes:  # the body stream is closed unread
            response["Body"].close()
            return None
        body: bytes = response["Body"].read()
        return body
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise NotFound("导入文件不存在或已被删除，无法导入") from exc
        raise StoreUnavailable() from exc


def exists(key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3().head_object(Bucket=_bucket(), Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise StoreUnavailable() from exc


def write(key: str, data: bytes, content_type: str = XLSX) -> None:

    with aws_errors():
        s3().put_object(Bucket=_bucket(), Key=key, Body=data, ContentType=content_type,
                        ServerSideEncryption="AES256")


def upload(key: str, path: str, content_type: str = XLSX) -> None:
    """A file from disk, read by the client in chunks as it sends: an export never sits in memory whole."""
    with aws_errors(), open(path, "rb") as body:
        s3().put_object(Bucket=_bucket(), Key=key, Body=body, ContentType=content_type,
                        ServerSideEncryption="AES256")


def move(key: str, to: str) -> None:

    with aws_errors():
        s3().copy_object(Bucket=_bucket(), Key=to, CopySource={"Bucket": _bucket(), "Key": key},
                         ServerSideEncryption="AES256")
        s3().delete_object(Bucket=_bucket(), Key=key)


def upload_url(key: str, expires_s: int = 900) -> str:
    url: str = s3().generate_presigned_url("put_object", Params={"Bucket": _bucket(), "Key": key},
                                           ExpiresIn=expires_s)
    return url


def download_url(key: str, filename: str, expires_s: int = 900) -> str:
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    url: str = s3().generate_presigned_url("get_object", ExpiresIn=expires_s, Params={
        "Bucket": _bucket(), "Key": key, "ResponseContentDisposition": disposition})
    return url
