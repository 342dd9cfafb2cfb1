-- Entities compared: our credentials plus certificates only the registry holds.
SELECT (SELECT count(*) FROM recon_registry_match)
     + (SELECT count(*) FROM recon_observed o WHERE o.finding_type = 'registry_unknown')
