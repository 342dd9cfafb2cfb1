SELECT watermark FROM audit.sync_state WHERE tenant_id = %(tenant_id)s AND source = %(source)s AND stream = %(stream)s
