"""A tenant's erasure policy (include/tenants.yaml ``erasure``): erase, or keep the records pseudonymised.

```yaml
erasure:
  keep_records:                      # first rule that matches the worker's core.workers row wins
    - when: {employment_type: contractor}
      basis: "contractor engagement records, 6 years (tax law)"
    - when: {employment_status: terminated}
      basis: "alumni credentials stay verifiable for the registry"
  reidentify_approvers: [dpo@acme.example]
```

A worker no rule matches (or one credsync has no row for) is erased outright: no mapping is kept.
The file is validated where the tenant is loaded (credsync.tenants); this module decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def decide(policy: Mapping[str, Any], worker: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """``("pseudonymise", basis)`` when a keep_records rule matches ``worker``, else ``("erase", None)``."""
    if worker is not None:
        for rule in policy.get("keep_records", ()):
            if all(str(worker.get(field)) == value for field, value in rule["when"].items()):
                return "pseudonymise", rule["basis"]
    return "erase", None
