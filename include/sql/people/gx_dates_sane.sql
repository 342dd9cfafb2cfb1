-- GX UnexpectedRowsExpectation: staged workers whose employment dates contradict each other
-- or lie outside a plausible range.
SELECT employee_id, hire_date, termination_date, rehire_date
FROM {batch}
WHERE hire_date < DATE '$earliest_hire_date'
   OR hire_date > current_date + $max_hire_days_ahead
   OR termination_date < hire_date
   OR rehire_date < hire_date
   OR (employment_status = 'terminated' AND termination_date IS NULL)
   OR source_updated_at > now() + interval '1 day'
