"""Which LMS account a worker may adopt: exact and unbound only (no server needed)."""

from __future__ import annotations

from credsync.people.provision import IdentityConflict, adoption_conflict


def account(**fields: object) -> dict:
    return {"id": "u1", "userName": "E000739", **fields}


def test_exact_external_id_unbound_or_bound_to_the_same_worker_is_adopted() -> None:
    assert adoption_conflict(account(externalId="E000739"), "E000739", bound_to=None) is None
    assert adoption_conflict(account(externalId="E000739"), "E000739", bound_to="E000739") is None


def test_lost_create_without_external_id_is_adopted_on_exact_user_name_only() -> None:
    assert adoption_conflict(account(), "E000739", bound_to=None) is None
    conflict = adoption_conflict(account(), "e000739", bound_to=None)
    assert isinstance(conflict, IdentityConflict) and conflict.rule == "userName matches only case-insensitively"


def test_case_variant_of_another_employee_is_a_conflict_naming_both() -> None:
    conflict = adoption_conflict(account(externalId="E000739"), "e000739", bound_to="E000739")
    assert conflict is not None
    assert (conflict.employee_id, conflict.bound_to, conflict.scim_id) == ("e000739", "E000739", "u1")
    assert "'e000739'" in str(conflict) and "'E000739'" in str(conflict)


def test_binding_in_core_wins_over_a_matching_external_id() -> None:
    # Someone set the account's externalId to E000801 in the LMS; core.learners still binds it to E000739.
    conflict = adoption_conflict(account(externalId="E000801"), "E000801", bound_to="E000739")
    assert conflict is not None and conflict.bound_to == "E000739"
    assert conflict.rule == "core.learners binds this SCIM id to another employee"


def test_external_id_of_someone_else_is_a_conflict_even_when_core_has_no_binding() -> None:
    conflict = adoption_conflict(account(externalId="E000739"), "e000739", bound_to=None)
    assert conflict is not None and conflict.bound_to == "E000739"


def test_conflict_detail_is_json_ready_for_the_dead_letter() -> None:
    detail = adoption_conflict(account(externalId="E000739"), "e000739", bound_to="E000739").detail()
    assert set(detail) == {"employee_id", "bound_employee_id", "scim_id", "user_name", "rule", "message"}
