-- Record a replay's outcome; a letter that still fails stays open for the next attempt.
UPDATE audit.dead_letters
SET status = CASE WHEN %(replayed)s THEN 'replayed' ELSE status END,
    replay_outcome = %(outcome)s, attempts = attempts + 1, updated_at = now()
WHERE dead_letter_id = %(dead_letter_id)s
