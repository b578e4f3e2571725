# ruff: noqa
# fmt: off
# The seed's code is kept as written; do not reformat it.
"""Seed sample: Prefect Core Concepts > 6. Results and Persistence.

Adapted only as the seed allows: ``prefect`` -> ``tideflow``; the imports the sample
leaves implicit are added (``task``, ``JSONSerializer``, and ``S3Bucket`` from
``tideflow.filesystems``, where tideflow keeps ``prefect_aws``'s block). The
``my-bucket`` block must be saved beforehand; the test points it at a local moto S3
server. Everything under ``__main__`` drives the sample and is not part of it.
"""

from tideflow import task
from tideflow.filesystems import S3Bucket
from tideflow.serializers import JSONSerializer


@task(
    persist_result=True,                       # Store the result
    result_serializer=JSONSerializer(),        # How to serialize the result
    result_storage=S3Bucket.load("my-bucket"), # Where to store the result
)
def calculate_metrics(data):
    # Process data and return metrics
    return {"accuracy": 0.95, "precision": 0.92}


if __name__ == "__main__":
    import json

    from tideflow import flow

    @flow
    def evaluate() -> dict:
        return calculate_metrics([0.1, 0.2, 0.3])

    print(json.dumps(evaluate()))
