"""Two task processes ("workers") with different working directories see the same files.

Each worker runs in its own process and its own working directory, as Celery or Kubernetes workers
would; the only thing they share is ``CREDSYNC_OBJECT_STORE``. What one writes (a payroll export,
a reconciliation report, an HRIS file drop arriving in the store) the other reads, and nothing lands
in either working directory (a relative ``build/`` would have been a different place on each).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRITER = '''
import sys
from datetime import date

from credsync.delivery.writeback import Writeback, write_payroll_csv
from credsync.objects import store_path, write_atomically
from credsync.recon.report import build_report

flag = Writeback("E7", "payroll_flag", "forklift", "urn:uuid:c7", "active", None, date(2025, 1, 2),
                 date(2027, 1, 2), {"active": True, "effective_from": "2025-01-02",
                                    "effective_to": "2027-01-02", "credential_id": "urn:uuid:c7"})
print(write_payroll_csv(None, "acme", date(2026, 3, 2), [flag]))
print(build_report(sys.argv[1], "acme"))
drop = store_path("hris_drop", "CREDSYNC_HRIS_DROP") / "acme" / "workers_20260302T050000Z.csv"
write_atomically(drop, b"employee_id,name.given,name.family\\r\\nE7,Ann,Lee\\r\\n")
'''

READER = '''
import json
from datetime import date

from credsync.delivery.writeback import payroll_csv_path
from credsync.people import flow
from credsync.people.filedrop import latest_drop
from credsync.recon.report import CHARTS, report_store

report = report_store() / "acme"
print(json.dumps({
    "payroll": payroll_csv_path(None, "acme", date(2026, 3, 2)).read_text(),
    "report": sorted(p.name for p in report.iterdir()),
    "png": all((report / name).read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n" for name in CHARTS),
    "drop": list(flow.csv_export(latest_drop(None, "acme"))(None)),
}))
'''


def worker(script: str, cwd: Path, store: str, *args: str) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if key not in ("CREDSYNC_PAYROLL_STORE", "CREDSYNC_REPORT_STORE", "CREDSYNC_HRIS_DROP")}
    env.update(CREDSYNC_OBJECT_STORE=store,
               PYTHONPATH=os.pathsep.join([str(ROOT / "plugins"), str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def test_what_one_worker_writes_the_other_reads(tmp_path, warehouse_url) -> None:
    store = f"file://{tmp_path / 'shared-store'}"
    first, second = tmp_path / "worker-1", tmp_path / "worker-2"

    written = worker(WRITER, first, store, warehouse_url).splitlines()[-2:]
    seen = json.loads(worker(READER, second, store).splitlines()[-1])

    assert written[0] == f"{store}/payroll/acme/payroll_flags_2026-03-02.csv"
    assert written[1] == f"{store}/reports/acme/index.html"
    assert seen["payroll"].splitlines()[1] == "acme,E7,forklift,true,2025-01-02,2027-01-02,urn:uuid:c7"
    assert seen["report"] == ["delivery_success.png", "drift.png", "index.html", "latency.png"]
    assert seen["png"] is True
    assert seen["drop"] == [{"employee_id": "E7", "name.given": "Ann", "name.family": "Lee"}]
    assert list(first.iterdir()) == [] and list(second.iterdir()) == [], "a worker wrote into its working directory"
