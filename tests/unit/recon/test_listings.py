from datetime import date

from credsync.recon.listings import ENTERPRISE, hris_payroll_flag, registry_certificate, scim_user
from credsync_dev.synthetic import _statements


def test_scim_user_takes_primary_email_and_enterprise_department_and_manager():
    user = scim_user({
        "id": "u1", "externalId": "E1", "userName": "a@x", "active": False,
        "emails": [{"value": "other@x"}, {"value": "Primary@X", "primary": True}],
        ENTERPRISE: {"department": "Ops", "manager": {"value": "u0"}},
    })

    assert (user.scim_id, user.external_id, user.active, user.email) == ("u1", "E1", False, "Primary@X")
    assert (user.department, user.manager_value) == ("Ops", "u0")


def test_payroll_flag_uses_the_flag_name_as_credential_type():
    flag = hris_payroll_flag({"employee_id": "E1", "flag": "forklift", "active": True,
                              "effective_from": "2025-01-02", "effective_to": None, "credential_id": "c1"})

    assert (flag.target, flag.credential_type, flag.active, flag.valid_from) == (
        "payroll_flag", "forklift", True, date(2025, 1, 2))


def test_registry_certificate_reads_the_contract_fields():
    cert = registry_certificate({"id": "REG-1", "learner_id": "E1", "credential_type": "forklift",
                                 "credential_version": "2025-01-02.v1", "status": "revoked",
                                 "issued_on": "2025-01-02", "expires_on": None,
                                 "updated_at": "2025-02-01T00:00:00Z"})

    assert (cert.registry_id, cert.status, cert.credential_version) == ("REG-1", "revoked", "2025-01-02.v1")
    assert cert.updated_at.tzinfo is not None


def test_synthetic_script_splits_into_statements_without_comments():
    assert _statements("-- a comment;\nSELECT 1;\n\nSELECT 2\n  FROM t;\n") == ["SELECT 1", "SELECT 2\n  FROM t;"]
