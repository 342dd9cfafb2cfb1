from pathlib import Path

import pytest

from credsync.tenants import TenantConfigError, load_tenants


def test_shipped_tenants_load_with_every_connection_role():
    tenants = load_tenants()
    assert {t.tenant_id for t in tenants} >= {"acme", "globex"}
    for tenant in tenants:
        assert set(tenant.connections) == {"hris", "scim", "lrs", "lms", "registry"}


def test_missing_connection_role_names_file_tenant_and_role(tmp_path: Path):
    path = tmp_path / "tenants.yaml"
    path.write_text(
        "tenants:\n  - tenant_id: acme\n    display_name: A\n    region: eu\n"
        "    connections: {hris: h, scim: s, lrs: l, lms: m}\n"
    )
    with pytest.raises(TenantConfigError, match=r"tenants.yaml: tenant #1 \(acme\): connections missing registry"):
        load_tenants(path)


def test_disabled_tenant_is_skipped_unless_asked(tmp_path: Path):
    path = tmp_path / "tenants.yaml"
    conns = "{hris: h, scim: s, lrs: l, lms: m, registry: r}"
    path.write_text(
        "tenants:\n"
        f"  - {{tenant_id: acme, display_name: A, region: eu, connections: {conns}}}\n"
        f"  - {{tenant_id: beta, display_name: B, region: eu, enabled: false, connections: {conns}}}\n"
    )
    assert [t.tenant_id for t in load_tenants(path)] == ["acme"]
    assert [t.tenant_id for t in load_tenants(path, enabled_only=False)] == ["acme", "beta"]


def test_get_tenant_is_the_one_lookup_and_names_the_enabled_tenants() -> None:
    from credsync.tenants import get_tenant

    assert get_tenant("acme").conn_id("hris") == "hris_acme"
    with pytest.raises(TenantConfigError, match=r"tenant 'initech' is not an enabled tenant \(enabled: acme, globex"):
        get_tenant("initech")
