"""The ``s3`` kind's server: moto's S3 backend behind a gateway that makes it behave like
AWS where clients can tell the difference (signatures, anonymous access, CORS, versioning,
error codes). Run as ``python -m tempstack.servers.s3 CONFIG.json``.
"""
