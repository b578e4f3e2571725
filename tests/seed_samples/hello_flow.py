# ruff: noqa
# fmt: off
# The seed's code is kept as written; do not reformat it.
"""Seed sample: Getting Started with Prefect in 5 Minutes > "Create a Simple Flow".

Adapted only as the seed allows: ``prefect`` -> ``tideflow``.
"""

from tideflow import task, flow


@task
def say_hello(name):
    return f"Hello, {name}!"


@flow
def hello_flow(name="world"):
    result = say_hello(name)
    print(result)
    return result


if __name__ == "__main__":
    hello_flow("MLOps Zoomcamp")
