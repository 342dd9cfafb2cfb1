"""The demo summary's latency lines: minutes per channel, registry first, history counted apart."""

from __future__ import annotations

from credsync_dev.localenv.summary import latency_lines


def test_latency_lines_show_minutes_registry_first_and_the_history_apart() -> None:
    lines = latency_lines({
        "HRIS write-back": {"day": "2026-12-02", "p50_s": 691.4, "p95_s": 1098.0, "live": 36, "history": 679},
        "registry": {"day": "2026-12-02", "p50_s": 661.7, "p95_s": 1046.0, "live": 36, "history": 679},
    })
    assert "from the completion time" in lines[0]
    assert lines[1].split()[0] == "registry" and "p50 11.0 min, p95 17.4 min over 36 deliveries" in lines[1]
    assert "p50 11.5 min, p95 18.3 min" in lines[2] and "679 deliveries of history completions" in lines[2]


def test_a_channel_without_live_completions_says_so() -> None:
    lines = latency_lines({"registry": {"day": "2026-12-02", "p50_s": None, "p95_s": None, "live": 0,
                                        "history": 12}})
    assert "no live completion delivered" in lines[1] and "12 deliveries of history" in lines[1]
