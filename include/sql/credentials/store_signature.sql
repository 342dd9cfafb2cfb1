UPDATE core.credentials SET vc_jwt = %(vc_jwt)s, issuer_did = %(issuer_did)s, signing_key_id = %(key_id)s
WHERE credential_id = %(credential_id)s AND vc_jwt IS NULL
