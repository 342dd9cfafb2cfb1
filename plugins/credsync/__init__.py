"""credsync: keeps an HRIS, an LMS and a national credential registry in agreement."""
