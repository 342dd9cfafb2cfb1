"""What every stage → gate → merge source shares (HRIS workers, LMS/xAPI completions)."""
