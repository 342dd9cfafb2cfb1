"""The registry payload: built from the mapping CSV and nothing else."""

from datetime import date

import pytest

from credsync.delivery.payload import MappingError, build_certificate, idempotency_key, registry_mapping

CONTRACT_FIELDS = {"tenant_id", "learner_id", "learner_name", "credential_type", "credential_version",
                   "issued_on", "expires_on", "issuer", "evidence_url", "credential_jwt"}


def _source(**overrides):
    row = {
        "credential.tenant_id": "acme", "credential.employee_id": "E000001",
        "worker.legal_name": "Ann Example", "credential.credential_type": "cpr_aed",
        "credential.version_tag": "2026-01-10.v1", "credential.issue_date": date(2026, 1, 10),
        "credential.expiry_date": date(2028, 1, 10), "credential.issuer": "credsync-training",
        "credential.evidence_url": "https://lms.acme.example/courses/CPR-101", "credential.vc_jwt": "eyJ.x.y",
    }
    return row | overrides


def test_payload_carries_only_the_mapped_fields_even_when_the_source_has_more():
    leaky = _source(**{
        "worker.personal_email": "ann@home.example", "worker.work_email": "ann@acme.example",
        "worker.manager_id": "M0001", "worker.salary_band": "B7", "compensation.salary_band": "B7",
        "credential.evidence": {"score": 93}, "personal_email": "ann@home.example", "salary_band": "B7",
    })
    payload = build_certificate(leaky)
    assert set(payload) == CONTRACT_FIELDS
    flat = repr(payload)
    for secret in ("ann@home.example", "ann@acme.example", "M0001", "B7", "93"):
        assert secret not in flat


def test_mapping_targets_exactly_the_registry_contract_fields():
    import yaml

    from credsync.paths import PROJECT_ROOT

    contract = yaml.safe_load((PROJECT_ROOT / "sandbox/registry/openapi.yaml").read_text())
    schema = contract["components"]["schemas"]["CertificateInput"]
    assert set(registry_mapping().target_fields) == set(schema["properties"]) == CONTRACT_FIELDS
    assert {r.target_field for r in registry_mapping().rules if r.required} == set(schema["required"])


def test_payload_is_json_ready_with_iso_dates_and_nulls_for_empty_optionals():
    payload = build_certificate(_source(**{"credential.expiry_date": None, "credential.evidence_url": ""}))
    assert payload["issued_on"] == "2026-01-10"
    assert payload["expires_on"] is None and payload["evidence_url"] is None


def test_missing_worker_name_names_the_field_and_record():
    with pytest.raises(MappingError) as caught:
        build_certificate(_source(**{"worker.legal_name": " "}), record_key="cs-1-v1-issue")
    assert caught.value.field == "learner_name" and caught.value.record_key == "cs-1-v1-issue"
    assert "registry_certificate_v1.csv" in str(caught.value)


def test_idempotency_key_is_stable_per_credential_version_and_operation():
    key = idempotency_key("6f1c", 2, "revoke")
    assert key == "cs-6f1c-v2-revoke" == idempotency_key("6f1c", 2, "revoke")
    assert key != idempotency_key("6f1c", 2, "issue") != idempotency_key("6f1c", 3, "issue")
