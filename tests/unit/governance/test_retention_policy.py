"""The retention_policy column: each form parses to anchor, period, action and basis; anything else is refused
with the mapping file, row and rule named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credsync.governance.retention import SOURCES, RetentionRefused, _termination_clause
from credsync.governance.retention_policy import Period, load_file_policy, load_policies, parse_policy
from credsync.mapping.engine import MappingError

HEADER = "source_system,source_field,target_field,data_type,transform,required,notes,cardinality,retention_policy\n"


def _only(cell: str, layer: str = "core"):
    return parse_policy(cell)[layer]


def test_termination_plus_years():
    clause = _only("termination + 7 years then pseudonymise (basis: KSA Labor Law, employment records)")
    assert (clause.layer, clause.anchor, clause.period, clause.action) == (
        "core", "termination", Period(7, "years"), "pseudonymise")
    assert clause.basis == "KSA Labor Law, employment records"


def test_completion_plus_years():
    clause = _only("completion + 5 years then purge (basis: training evidence, 5 years)")
    assert (clause.anchor, clause.period, clause.action) == ("completion", Period(5, "years"), "purge")


def test_batch_plus_days_in_the_staging_layer():
    clause = _only("staging: batch + 90 days then purge (basis: data minimisation)", "staging")
    assert (clause.layer, clause.anchor, clause.period) == ("staging", "batch", Period(90, "days"))


def test_months_and_the_audit_layer():
    clause = _only("audit: batch + 1 month then purge (basis: review)", "audit")
    assert clause.period == Period(1, "months")
    assert clause.period.before(datetime(2026, 3, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)


def test_external():
    clause = _only("external (basis: the registry keeps certificates for their life + 10 years)")
    assert clause.external and clause.period is None and "registry" in clause.basis


def test_several_layers_in_one_cell_and_case_and_spacing():
    layers = parse_policy("Termination+7 Years then Purge (basis: HR);  STAGING : batch + 90 days then purge"
                          " (basis: minimisation)")
    assert sorted(layers) == ["core", "staging"] and layers["core"].action == "purge"
    assert layers["core"].basis == "HR"


def test_a_year_after_29_february_is_28_february():
    assert Period(1, "years").before(datetime(2029, 2, 28, tzinfo=UTC)) == datetime(2028, 2, 28, tzinfo=UTC)
    assert Period(1, "years").after(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2029, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize(("cell", "says"), [
    ("", "is empty"),
    ("employment + 7 years", "is not"),                                   # the old free text: no action, no basis
    ("termination + 7 years then purge", "is not"),                      # no basis
    ("termination + 7 years then purge (basis: )", "is not"),            # empty basis
    ("termination + 7 decades then purge (basis: x)", "unknown unit"),
    ("termination + 0 years then purge (basis: x)", "out of range"),
    ("termination + 7 years then archive (basis: x)", "unknown action"),
    ("hire + 7 years then purge (basis: x)", "anchor 'hire'"),
    ("staging: termination + 7 years then purge (basis: x)", "anchor 'termination' means nothing"),
    ("staging: batch + 90 days then pseudonymise (basis: x)", "only purges"),
    ("archive: batch + 90 days then purge (basis: x)", "unknown layer"),
    ("batch + 90 days then purge (basis: x)", "means nothing in layer 'core'"),
    ("termination + 7 years then purge (basis: x); termination + 8 years then purge (basis: y)", "two clauses"),
    ("termination - 7 years then purge (basis: x)", "is not"),
])
def test_bad_cells_are_refused_with_the_reason(cell, says):
    with pytest.raises(MappingError) as caught:
        parse_policy(cell, file="m.csv", row=4, field="given_name")
    error = caught.value
    assert (error.file, error.row, error.rule) == ("m.csv", 4, "retention_policy")
    assert says in str(error) and str(error).startswith("m.csv, row 4, field 'given_name': retention_policy")


def test_a_bad_row_in_a_file_names_the_file_and_its_row(tmp_path):
    path = tmp_path / "hris_worker_v1.csv"
    path.write_text(HEADER + "hris,a,a,string,,true,,1:1,termination + 7 years then purge (basis: HR)\n"
                    "hris,b,b,string,,true,,1:1,termination + 7 yeers then purge (basis: HR)\n")
    with pytest.raises(MappingError, match=r"^hris_worker_v1.csv, row 3, field 'b': retention_policy") as caught:
        load_file_policy(path)
    assert caught.value.rule == "retention_policy"


def test_rows_of_one_file_must_agree_and_the_longest_period_applies(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "hris,a,a,string,,true,,1:1,termination + 7 years then purge (basis: HR)\n"
                    "hris,b,b,string,,true,,1:1,termination + 10 years then purge (basis: tax)\n")
    assert load_file_policy(path).layers["core"].period == Period(10, "years")
    path.write_text(HEADER + "hris,a,a,string,,true,,1:1,termination + 7 years then purge (basis: HR)\n"
                    "hris,b,b,string,,true,,1:1,termination + 7 years then pseudonymise (basis: HR)\n")
    with pytest.raises(MappingError, match=r"row 3.*must agree"):
        load_file_policy(path)


def test_mappings_disagreeing_on_a_workers_fate_are_refused(tmp_path):
    for name, action in (("a.csv", "purge"), ("b.csv", "pseudonymise")):
        (tmp_path / name).write_text(
            HEADER + f"hris,a,a,string,,true,,1:1,termination + 7 years then {action} (basis: HR)\n")
    with pytest.raises(RetentionRefused, match="disagree"):
        _termination_clause(load_policies(["a.csv", "b.csv"], tmp_path))


def test_the_shipped_mappings_parse():
    policies = load_policies([s.mapping for s in SOURCES] + ["registry_certificate_v1.csv",
                                                             "registry_training_record_v1.csv"])
    assert _termination_clause(policies).period == Period(7, "years")
    assert policies["registry_certificate_v1.csv"].layers["core"].external
    assert all(p.layers["staging"].period == Period(90, "days") for n, p in policies.items() if "registry" not in n)


def test_every_mapping_file_with_a_retention_column_parses():
    """A mapping the retention DAG does not read yet still states its policy in the one format."""
    from credsync.paths import MAPPINGS_DIR

    names = sorted(p.name for p in MAPPINGS_DIR.glob("*.csv")
                   if "retention_policy" in p.read_text(encoding="utf-8").splitlines()[0].split(","))
    assert "hris_worker_national_v1.csv" in names and "national_lrs_statement_v1.csv" in names
    load_policies(names)


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_any_text_either_parses_or_is_refused_as_a_mapping_error(cell):
    try:
        layers = parse_policy(cell, file="m.csv", row=2)
    except MappingError as error:
        assert error.rule == "retention_policy" and error.row == 2
        return
    assert layers and all(c.basis.strip() for c in layers.values())


@given(anchor=st.sampled_from(["termination", "completion"]), n=st.integers(1, 200),
       unit=st.sampled_from(["day", "days", "month", "months", "year", "years"]),
       action=st.sampled_from(["purge", "pseudonymise"]),
       basis=st.text(st.characters(blacklist_characters="()", blacklist_categories=("Cs", "Cc")), min_size=1,
                     max_size=80).filter(str.strip))
def test_every_well_formed_clause_round_trips(anchor, n, unit, action, basis):
    clause = parse_policy(f"{anchor} + {n} {unit} then {action} (basis: {basis})")["core"]
    assert (clause.anchor, clause.period.amount, clause.action) == (anchor, n, action)
    assert clause.basis == basis.strip()
    assert parse_policy(str(clause))["core"] == clause
