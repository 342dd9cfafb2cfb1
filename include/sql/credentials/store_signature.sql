UPDATE core.credentials SET vc_jwt = %(vc_jwt)s WHERE credential_id = %(credential_id)s AND vc_jwt IS NULL
