-- The outgoing batch for the GX gate (suite registry_notifications), in one statement.
INSERT INTO staging.registry_notifications (tenant_id, batch_id, event_id, event_type, registry_id,
                                            occurred_at, body_bytes)
SELECT %(tenant_id)s, %(batch_id)s::uuid, v.event_id, v.event_type, v.registry_id, v.occurred_at::timestamptz,
       v.body_bytes
FROM unnest(%(event_ids)s::text[], %(event_types)s::text[], %(registry_ids)s::text[], %(occurred)s::text[],
            %(sizes)s::int[]) AS v(event_id, event_type, registry_id, occurred_at, body_bytes)
