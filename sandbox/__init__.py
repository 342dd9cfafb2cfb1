"""Runnable stand-ins for the systems credsync talks to (HRIS, LMS, LRS, registry)."""
