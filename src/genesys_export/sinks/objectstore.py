"""Object storage for the Parquet sink: an S3 filesystem from AWS_* variables, atomic uploads.

A completed upload is atomic, so a spool file uploaded straight to its final key replaces a
partition in one step. S3 has no lock: object storage offers no lock that a crashed holder
releases, so schedulers must not run two syncs into one prefix at a time.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow.fs as pafs

from genesys_export.sinks import environ_get
from genesys_export.sinks.parquet_files import COPY_BLOCK


def s3_filesystem(environ: Mapping[str, str]) -> pafs.S3FileSystem:
    """S3 (or an S3-compatible server) as the AWS SDK would see it from `environ`.

    Credentials come from the SDK's usual chain (env vars, profile, instance role);
    `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` point at MinIO, R2, Ceph and friends.
    """
    endpoint = environ_get(environ, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    region = environ_get(environ, "AWS_REGION", "AWS_DEFAULT_REGION")
    # Keys passed explicitly so `environ` (not only the process environment) decides;
    # without them the SDK chain (profile, instance role) is used.
    return pafs.S3FileSystem(
        access_key=environ_get(environ, "AWS_ACCESS_KEY_ID"),
        secret_key=environ_get(environ, "AWS_SECRET_ACCESS_KEY"),
        session_token=environ_get(environ, "AWS_SESSION_TOKEN"),
        endpoint_override=endpoint,
        region=region,
    )


def upload(local: str, fs: pafs.FileSystem, target: str) -> None:
    """Copy a local file to `target`; S3 makes the object visible only once complete."""
    with open(local, "rb") as src, fs.open_output_stream(target) as out:
        while block := src.read(COPY_BLOCK):
            out.write(block)
