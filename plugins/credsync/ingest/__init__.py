"""The one stage → gate → merge shape every source shares (HRIS workers, LMS/xAPI completions).

- :mod:`credsync.ingest.batches` — a window's batch (``open_batch``) and what staging made of it
  (``StagedBatch``);
- :mod:`credsync.ingest.gate` — the GX gate on a staged batch (``gate_batch`` with a source's
  ``BatchGate``) and the refusals (``BatchRejected``, ``BatchNotValidated``);
- :mod:`credsync.ingest.watermarks` — where a source stream resumes (``Stream``,
  ``current_watermark``, ``advance_watermark``).

Each source keeps only what is its own: the mapping and staging table (``people/staging.py``,
``learning/staging.py``), its expectations (``*/quality.py``), its merge SQL (``*/merge.py``), and a
flow module (``people/flow.py``, ``learning/flow.py``) whose ``extract_and_stage`` → ``gate`` →
``merge`` the DAG tasks call.
"""
