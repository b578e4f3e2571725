"""Storage blocks, as in ``prefect.filesystems`` (and ``prefect_aws.s3.S3Bucket``).

Each is a ``Block`` (save it by name, load it anywhere) with ``read_path``,
``write_path``, ``get_directory`` and ``put_directory``:

* ``LocalFileSystem(basepath)``: a local or mounted directory;
* ``RemoteFileSystem(basepath="s3://..." | "gs://..." | "memory://...", settings={})``:
  any fsspec location;
* ``S3(bucket_path, aws_access_key_id, aws_secret_access_key, endpoint_url)`` and
  ``S3Bucket(bucket_name, credentials=AwsCredentials(...), bucket_folder, endpoint_url)``
  (needs s3fs: ``pip install 'tideflow[s3]'``);
* ``GCS(bucket_path, service_account_info, project)`` (``pip install 'tideflow[gcs]'``);
* ``GitRepository(url, reference, access_token, include_submodules)``: read-only, cloned
  with the ``git`` CLI.

Paths are relative to the block's root; ``..``, absolute paths, backslashes, their
percent-encoded forms and symlinks leading out of the root are refused with
``ValueError``. ``put_directory`` honours a ``.tideflowignore`` (gitignore syntax).

Example:
    >>> from tideflow.filesystems import RemoteFileSystem
    >>> fs = RemoteFileSystem(basepath="memory://filesystems-doc")
    >>> _ = fs.write_path("hello.txt", b"hi")
    >>> fs.read_path("hello.txt")
    b'hi'
"""

from __future__ import annotations

from tideflow.blocks._git import GitRepository
from tideflow.blocks._ignore import IgnoreSpec
from tideflow.blocks._local import FileSystemBlock, LocalFileSystem
from tideflow.blocks._remote import GCS, S3, AwsCredentials, RemoteFileSystem, S3Bucket

#: Prefect's name for the storage protocol base class
WritableFileSystem = FileSystemBlock

# The classes live in private modules; their public home is here (reprs, pickles, docs).
for _cls in (GCS, S3, AwsCredentials, FileSystemBlock, GitRepository, LocalFileSystem,
             RemoteFileSystem, S3Bucket):  # fmt: skip
    _cls.__module__ = __name__
del _cls

__all__ = [
    "GCS",
    "S3",
    "AwsCredentials",
    "FileSystemBlock",
    "GitRepository",
    "IgnoreSpec",
    "LocalFileSystem",
    "RemoteFileSystem",
    "S3Bucket",
    "WritableFileSystem",
]
