"""Learning records: xAPI statements and LMS REST completions → core.completions."""
