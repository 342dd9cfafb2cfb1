"""Talent marketplace stand-in: OAuth2 with refresh rotation, members, signed events, bulk import, webhooks."""
