"""Learning Record Store (xAPI 1.0.3 / 2.0 statement resource) and LMS REST completions export.

Run: ``python -m uvicorn sandbox.lrs.app:create_app --factory --port 18703``.
See ``sandbox/lrs/README.md`` for what is implemented and where it deviates from the spec.
"""
