-- GX UnexpectedRowsExpectation: staged workers whose employment dates contradict each other
-- or lie outside a plausible range. One row per worker; `problem` says which date is wrong
-- (the gate prints it beside the employee_id).
SELECT employee_id, row_number,
       concat_ws('; ',
           CASE WHEN hire_date < DATE '$earliest_hire_date'
                THEN 'hire_date ' || hire_date || ' before $earliest_hire_date' END,
           CASE WHEN hire_date > current_date + $max_hire_days_ahead
                THEN 'hire_date ' || hire_date || ' more than $max_hire_days_ahead days ahead' END,
           CASE WHEN termination_date < hire_date
                THEN 'termination_date ' || termination_date || ' before hire_date ' || hire_date END,
           CASE WHEN rehire_date < hire_date
                THEN 'rehire_date ' || rehire_date || ' before hire_date ' || hire_date END,
           CASE WHEN employment_status = 'terminated' AND termination_date IS NULL
                THEN 'terminated without termination_date' END,
           CASE WHEN source_updated_at > now() + interval '1 day'
                THEN 'updated_at ' || source_updated_at || ' in the future' END
       ) AS problem
FROM {batch}
WHERE hire_date < DATE '$earliest_hire_date'
   OR hire_date > current_date + $max_hire_days_ahead
   OR termination_date < hire_date
   OR rehire_date < hire_date
   OR (employment_status = 'terminated' AND termination_date IS NULL)
   OR source_updated_at > now() + interval '1 day'
ORDER BY row_number
