"""Career-path eligibility (issue 17, seed 002): rules over core credentials and HRIS attributes open
one case per worker, rule and rule version; a human decides each through Airflow's HITL operators;
an approval is written to the HRIS profile. Eligibility only: nothing is promoted or paid."""
