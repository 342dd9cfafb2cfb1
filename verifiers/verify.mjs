// Third-party checks of credsync vc+jwt credentials, with libraries credsync did not write:
//   1. did-jwt-vc (did-jwt) — signature against the issuer's did:web DID document (assertionMethod keys),
//      nbf/exp; resolution by web-did-resolver, or over plain HTTP for localhost/127.0.0.1 (the demo and
//      test origins: the did:web transformation is the same, only the scheme differs, as in didkit).
//   2. jose — the JWS again, with the key the header's kid names in that DID document, typ vc+jwt.
//   3. @digitalbazaar/vc-bitstring-status-list checkStatus — the credentialStatus entry: purpose, matching
//      issuer, list type, decoded bit. The list credential is itself a vc+jwt; it is verified with jose
//      before its payload is handed to checkStatus.
// Usage: node verify.mjs <vc-jwt> | node verify.mjs - (JWTs on stdin, whitespace-separated)
// Prints one JSON line per credential: {"verified":bool,"issuer":..,"id":..,"revoked":bool|null,
// "suspended":bool|null,"checks":{"didJwtVc":..,"jose":..,"status":..},"error":..}; exits 1 if any
// credential failed. verified = all three checks pass and the credential is neither revoked nor suspended
// (each read from the entry of that statusPurpose; null when the credential has no such entry).
import { readFileSync } from 'node:fs';
import { verifyCredential } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver as webResolver } from 'web-did-resolver';
import { LOOPBACK, TRUST, documentUrl, joseVerify, statusBits, statusListLoader } from './loaders.mjs';
import { checkStatus } from '@digitalbazaar/vc-bitstring-status-list';

const web = webResolver().web;
const loopbackOrWeb = {
  web: async (did, parsed, resolver, options) => {
    const host = decodeURIComponent(parsed.id.split(':')[0]).split(':')[0];
    if (!LOOPBACK.has(host)) return web(did, parsed, resolver, options);
    const response = await fetch(documentUrl(did));
    if (!response.ok) {
      return { didResolutionMetadata: { error: 'notFound', message: `HTTP ${response.status}` },
               didDocument: null, didDocumentMetadata: {} };
    }
    const didDocument = await response.json();
    return { didResolutionMetadata: { contentType: 'application/did+json' }, didDocument, didDocumentMetadata: {} };
  },
};
const resolver = new Resolver(loopbackOrWeb, { cache: true });

const resolveDocument = async (did) => (await resolver.resolve(did)).didDocument;
const loadStatusList = statusListLoader(resolveDocument);

async function check(token) {
  const out = { verified: false, issuer: null, id: null, revoked: null, suspended: null, checks: {} };
  const errors = [];
  try {
    // format: false — did-jwt-vc's shape check knows only the VC 1.1 context; the VC 2.0 / OB 3.0
    // shape is checked against the 1EdTech JSON Schema by the Python suite.
    const result = await verifyCredential(token, resolver, { policies: { format: false },
                                                             proofPurpose: 'assertionMethod' });
    out.issuer = result.issuer;
    out.checks.didJwtVc = true;
  } catch (err) {
    out.checks.didJwtVc = false;
    errors.push(`did-jwt-vc: ${err && err.message ? err.message : err}`);
  }
  let credential = null;
  try {
    credential = await joseVerify(token, resolveDocument);
    out.checks.jose = true;
    out.id = credential.id;
    out.issuer = out.issuer || credential.iss;
  } catch (err) {
    out.checks.jose = false;
    errors.push(`jose: ${err && err.message ? err.message : err}`);
  }
  if (TRUST.length > 0 && out.issuer && !TRUST.includes(out.issuer)) {
    errors.push(`issuer ${out.issuer} is not in CREDSYNC_TRUSTED_ISSUERS`);
  }
  if (credential) {
    const status = await checkStatus({ credential, documentLoader: loadStatusList,
                                       verifyBitstringStatusListCredential: false });
    out.checks.status = status.verified;
    if (status.verified) {
      ({ revoked: out.revoked, suspended: out.suspended } = statusBits(status));
      if (out.revoked) errors.push('revoked (bitstring status list)');
      if (out.suspended) errors.push('suspended (bitstring status list)');
    } else {
      errors.push(`status: ${status.error && status.error.message ? status.error.message : status.error}`);
    }
  }
  out.verified = errors.length === 0;
  if (errors.length > 0) out.error = errors.join('; ');
  return out;
}

const arg = process.argv[2];
const tokens = (!arg || arg === '-' ? readFileSync(0, 'utf8') : arg)
  .split(/\s+/)
  .filter((t) => t.length > 0);
let failed = 0;
for (const token of tokens) {
  const outcome = await check(token);
  if (!outcome.verified) failed += 1;
  process.stdout.write(JSON.stringify(outcome) + '\n');
}
process.exit(failed > 0 || tokens.length === 0 ? 1 : 0);
