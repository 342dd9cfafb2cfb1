from datetime import date

from credsync.delivery.writeback import payroll_csv_path, summary_text


def test_summary_reads_like_a_sentence_for_each_status():
    assert summary_text("cpr_aed", "active", date(2027, 3, 30), date(2025, 3, 30)) == (
        "CPR & AED certification active until 2027-03-30")
    assert summary_text("cpr_aed", "expired", date(2026, 3, 1), date(2026, 3, 2)) == (
        "CPR & AED certification expired on 2026-03-01")
    assert summary_text("cpr_aed", "revoked", None, date(2026, 2, 1)) == (
        "CPR & AED certification revoked on 2026-02-01")
    assert summary_text("welding_basic", "active", None, date(2026, 2, 1)) == (
        "Welding basic certification active (does not expire)")


def test_payroll_file_is_dated_per_tenant(tmp_path):
    assert str(payroll_csv_path(tmp_path, "acme", date(2026, 3, 2))) == (
        f"file://{tmp_path}/acme/payroll_flags_2026-03-02.csv")
