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
import { importJWK, jwtVerify, decodeProtectedHeader } from 'jose';
import { checkStatus } from '@digitalbazaar/vc-bitstring-status-list';

const LOOPBACK = new Set(['localhost', '127.0.0.1']);
const TRUST = (process.env.CREDSYNC_TRUSTED_ISSUERS || '').split(',').filter((d) => d.length > 0);

function documentUrl(did) {
  const segments = did.slice('did:web:'.length).split('#')[0].split(':');
  const host = decodeURIComponent(segments[0]);
  const path = segments.slice(1).map(decodeURIComponent).join('/');
  const scheme = LOOPBACK.has(host.split(':')[0]) ? 'http' : 'https';
  return path ? `${scheme}://${host}/${path}/did.json` : `${scheme}://${host}/.well-known/did.json`;
}

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

async function joseVerify(token, expectedTyp) {
  const header = decodeProtectedHeader(token);
  const did = String(header.kid || '').split('#')[0];
  const { didDocument } = await resolver.resolve(did);
  if (!didDocument) throw new Error(`cannot resolve ${did}`);
  const listed = (didDocument.assertionMethod || []).map((m) => (typeof m === 'string' ? m : m.id));
  if (!listed.includes(header.kid)) throw new Error(`kid ${header.kid} is not an assertionMethod of ${did}`);
  const method = (didDocument.verificationMethod || []).find((m) => m.id === header.kid);
  if (!method || !method.publicKeyJwk) throw new Error(`no publicKeyJwk for ${header.kid}`);
  const key = await importJWK(method.publicKeyJwk, 'EdDSA');
  const { payload } = await jwtVerify(token, key, { typ: expectedTyp, algorithms: ['EdDSA'] });
  if (payload.iss !== did) throw new Error(`iss ${payload.iss} is not the kid's DID ${did}`);
  return payload;
}

// One fetch and signature check per list and process: a batch of credentials shares a few lists.
const statusLists = new Map();
async function fetchStatusList(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  const payload = await joseVerify((await response.text()).trim(), 'vc+jwt');
  return { document: payload, documentUrl: url, contextUrl: null };
}
function loadStatusList(url) {
  if (!statusLists.has(url)) statusLists.set(url, fetchStatusList(url));
  return statusLists.get(url);
}

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
    credential = await joseVerify(token, 'vc+jwt');
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
      const bit = (purpose) => {
        const found = status.results.filter((r) => r.credentialStatus.statusPurpose === purpose);
        return found.length === 0 ? null : found.some((r) => r.status === true);
      };
      out.revoked = bit('revocation');
      out.suspended = bit('suspension');
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
