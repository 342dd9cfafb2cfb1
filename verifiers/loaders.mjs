// What verify.mjs (vc+jwt) and verify_di.mjs (Data Integrity) share: where a did:web DID document lives,
// the vc+jwt check of a status list credential against the key its kid names in that document, one fetch
// per status list and process, the bits read per statusPurpose, and the trust list.
// Each verifier passes its own DID resolution (did-resolver for vc+jwt; a loopback-only fetch for DI).
import { importJWK, jwtVerify, decodeProtectedHeader } from 'jose';

export const LOOPBACK = new Set(['localhost', '127.0.0.1']);
export const TRUST = (process.env.CREDSYNC_TRUSTED_ISSUERS || '').split(',').filter((d) => d.length > 0);

// The did:web transformation; plain HTTP for loopback origins (the demo and tests), as in didkit.
export function documentUrl(did) {
  const segments = did.slice('did:web:'.length).split('#')[0].split(':');
  const host = decodeURIComponent(segments[0]);
  const path = segments.slice(1).map(decodeURIComponent).join('/');
  const scheme = LOOPBACK.has(host.split(':')[0]) ? 'http' : 'https';
  return path ? `${scheme}://${host}/${path}/did.json` : `${scheme}://${host}/.well-known/did.json`;
}

// A compact JWS of type `expectedTyp`, verified with the Ed25519 key its kid names, which the DID document
// (from `resolveDocument(did)`) must list for assertionMethod; iss must be that DID. Returns the payload.
export async function joseVerify(token, resolveDocument, expectedTyp = 'vc+jwt') {
  const header = decodeProtectedHeader(token);
  const did = String(header.kid || '').split('#')[0];
  const document = await resolveDocument(did);
  if (!document) throw new Error(`cannot resolve ${did}`);
  const listed = (document.assertionMethod || []).map((m) => (typeof m === 'string' ? m : m.id));
  if (!listed.includes(header.kid)) throw new Error(`kid ${header.kid} is not an assertionMethod of ${did}`);
  const method = (document.verificationMethod || []).find((m) => m.id === header.kid);
  if (!method || !method.publicKeyJwk) throw new Error(`no publicKeyJwk for ${header.kid}`);
  const key = await importJWK(method.publicKeyJwk, 'EdDSA');
  const { payload } = await jwtVerify(token, key, { typ: expectedTyp, algorithms: ['EdDSA'] });
  if (payload.iss !== did) throw new Error(`iss ${payload.iss} is not the kid's DID ${did}`);
  return payload;
}

// A documentLoader for checkStatus: each status list credential (a vc+jwt) fetched and jose-verified once
// per process (a batch of credentials shares a few lists); `checkUrl` may refuse a URL before the fetch.
export function statusListLoader(resolveDocument, checkUrl = () => {}) {
  const lists = new Map();
  const load = async (url) => {
    checkUrl(url);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
    const document = await joseVerify((await response.text()).trim(), resolveDocument);
    return { document, documentUrl: url, contextUrl: null };
  };
  return (url) => {
    if (!lists.has(url)) lists.set(url, load(url));
    return lists.get(url);
  };
}

// {revoked, suspended} from a verified checkStatus result: each entry reads its own purpose's list (a set
// suspension bit is not a revocation); null when the credential has no entry of that purpose.
export function statusBits(status) {
  const bit = (purpose) => {
    const found = status.results.filter((r) => r.credentialStatus.statusPurpose === purpose);
    return found.length === 0 ? null : found.some((r) => r.status === true);
  };
  return { revoked: bit('revocation'), suspended: bit('suspension') };
}
