"""Wire schemas shared by the client and the server (pydantic models).

Import from the submodules (``tideflow.schemas.core``, ``.actions``, ``.filters``,
``.sorting``): this package imports nothing eagerly, so that ``import tideflow`` does
not pay for building pydantic models it may never use.
"""
