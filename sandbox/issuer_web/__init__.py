"""Stand-in for an issuer's web origin: serves the published did-web folder over loopback HTTP."""
