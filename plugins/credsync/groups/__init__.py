"""LMS groups over SCIM from HRIS attributes and IdP claims (docs/groups.md)."""
