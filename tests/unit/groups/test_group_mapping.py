"""The group mapping loads as shipped and names file, row and field when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from credsync.groups.mapping import GroupMappingError, latest_mapping_file, load_group_mapping, slug

HEADER = "rule_id,source_system,source_field,match_value,target_group,display_name,notes\n"


def write(tmp_path: Path, rows: str, name: str = "groups_v1.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_the_shipped_mapping_loads_with_its_version() -> None:
    mapping = load_group_mapping()
    assert mapping.version == latest_mapping_file().stem
    assert {r.attribute for r in mapping.rules} >= {"hris.department", "hris.job_title", "hris.location",
                                                     "idp.group", "idp.role"}
    # A job family: several titles, one group, one display name.
    assert mapping.static_groups()["lms-family-equipment-operators"][0] == "Equipment operators"


def test_the_newest_version_is_the_one_in_force(tmp_path: Path) -> None:
    write(tmp_path, "a_rule,hris,department,IT,lms-it,IT,\n", "groups_v2.csv")
    write(tmp_path, "a_rule,hris,department,IT,lms-it,IT,\n", "groups_v10.csv")
    assert latest_mapping_file(tmp_path).name == "groups_v10.csv"


@pytest.mark.parametrize(("row", "message"), [
    ("r1,ldap,department,IT,lms-it,IT,\n", "row 2: field 'source_system'"),
    ("r1,hris,salary,IT,lms-it,IT,\n", "row 2: field 'source_field' 'salary'"),
    ("r1,hris,location,*,lms-site,Site,\n", "row 2: field 'target_group' must contain {value}"),
    ("r1,hris,location,Berlin,lms-{value},Site,\n", "row 2: field 'target_group' must contain {value}"),
    ("r1,hris,department,IT,LMS IT,IT,\n", "row 2: field 'target_group' 'LMS IT'"),
    ("r1,hris,department,,lms-it,IT,\n", "row 2: field 'match_value' is empty"),
    ("r1,hris,department,IT,lms-it,IT,\nr1,hris,department,HR,lms-hr,HR,\n",
     "row 3: field 'rule_id' 'r1' is used twice"),
    ("r1,hris,department,IT,lms-it,IT,\nr2,hris,job_title,Dev,lms-it,Tech,\n", "row 3: field 'display_name' 'Tech'"),
])
def test_errors_name_file_row_and_field(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, row)
    with pytest.raises(GroupMappingError, match=str(path).replace(".", r"\.")) as error:
        load_group_mapping(path)
    assert message in str(error.value)


def test_slug_matches_the_sql_rule() -> None:
    assert slug("  Health & Safety ") == "health-safety" and slug("São Paulo") == "s-o-paulo"
