// Third-party checks of credsync Data Integrity credentials (embedded proof, cryptosuite eddsa-rdfc-2022),
// with libraries credsync did not write:
//   1. @digitalbazaar/vc verifyCredential + @digitalbazaar/data-integrity DataIntegrityProof +
//      @digitalbazaar/eddsa-rdfc-2022-cryptosuite (RDFC-1.0 through jsonld / rdf-canonize, Ed25519 through
//      @digitalbazaar/ed25519-multikey): the proof, the verification method the proof names, and that the
//      issuer's DID document lists it for assertionMethod (jsonld-signatures' AssertionProofPurpose).
//   2. @digitalbazaar/vc-bitstring-status-list checkStatus — the credentialStatus entry and its bit. The list
//      credential is a vc+jwt; it is verified with jose against the issuer's DID document first.
// The documentLoader never goes to the internet: W3C contexts come from the @digitalbazaar context packages,
// the OB 3.0.3 and OB extensions contexts from credsync's shipped copies (no npm package ships them), did:web documents and status
// lists from the issuer's origin, which must be loopback here (localhost / 127.0.0.1, the demo and tests).
// Any other URL is refused with an error naming it.
// Usage: node verify_di.mjs <file.json> | node verify_di.mjs - (one JSON credential per line on stdin)
// Prints one JSON line per credential: {"verified":bool,"issuer":..,"id":..,"revoked":bool|null,
// "suspended":bool|null,"checks":{"proof":..,"status":..},"error":..} (null: no entry of that statusPurpose);
// exits 1 if any credential failed.
import { readFileSync } from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import { DataIntegrityProof } from '@digitalbazaar/data-integrity';
import { cryptosuite as eddsaRdfc2022CryptoSuite } from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import { contexts as credentialsContexts } from '@digitalbazaar/credentials-context';
import diContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import { checkStatus } from '@digitalbazaar/vc-bitstring-status-list';
import { LOOPBACK, TRUST, documentUrl, statusBits, statusListLoader } from './loaders.mjs';

const OB3_CONTEXT = 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json';

const CONTEXTS = new Map([...credentialsContexts, ...diContext.contexts, ...multikeyContext.contexts]);
const shipped = (name) => JSON.parse(readFileSync(
  new URL(`../plugins/credsync/credentials/contexts/${name}`, import.meta.url), 'utf8'));
CONTEXTS.set(OB3_CONTEXT, shipped('ob-v3p0-context-3.0.3.json'));
CONTEXTS.set('https://purl.imsglobal.org/spec/ob/v3p0/extensions.json', shipped('ob-v3p0-extensions.json'));

function loopbackOnly(url) {
  const { hostname } = new URL(url);
  if (!LOOPBACK.has(hostname)) throw new Error(`refusing to fetch ${url}: only loopback origins are served here`);
}

const didDocuments = new Map();
async function didDocument(did) {
  if (!didDocuments.has(did)) {
    const url = documentUrl(did);
    loopbackOnly(url);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`DID document of ${did}: HTTP ${response.status} at ${url}`);
    const document = await response.json();
    if (document.id !== did) throw new Error(`DID document at ${url} names itself ${document.id}`);
    didDocuments.set(did, document);
  }
  return didDocuments.get(did);
}

async function documentLoader(url) {
  if (CONTEXTS.has(url)) return { contextUrl: null, documentUrl: url, document: CONTEXTS.get(url) };
  if (url.startsWith('did:web:')) {
    const [did, fragment] = url.split('#');
    const document = await didDocument(did);
    if (!fragment) return { contextUrl: null, documentUrl: url, document };
    const method = (document.verificationMethod || []).find((m) => m.id === url || m.id === `#${fragment}`);
    if (!method) throw new Error(`${url} is not a verificationMethod of ${did}`);
    return { contextUrl: null, documentUrl: url,
             document: { '@context': document['@context'], ...method, id: url } };
  }
  throw new Error(`documentLoader refuses ${url}: not a shipped context or a did:web document`);
}

const statusLists = statusListLoader(didDocument, loopbackOnly);

function message(err) {
  if (!err) return String(err);
  const inner = err.errors && err.errors.length ? `: ${err.errors.map(message).join('; ')}` : '';
  return `${err.message || err.name || err}${inner}`;
}

async function check(credential) {
  const issuer = typeof credential.issuer === 'string' ? credential.issuer : credential.issuer && credential.issuer.id;
  const out = { verified: false, issuer: issuer || null, id: credential.id || null, revoked: null,
                suspended: null, checks: {} };
  const errors = [];
  const suite = new DataIntegrityProof({ cryptosuite: eddsaRdfc2022CryptoSuite });
  // vc calls checkStatus itself once the proof verified; the list credential is a vc+jwt, so it is loaded
  // (and jose-verified) by statusLists and handed over as verified.
  let status = null;
  const statusCheck = async (options) => {
    status = await checkStatus({ ...options, documentLoader: statusLists,
                                 verifyBitstringStatusListCredential: false });
    return status;
  };
  const result = await vc.verifyCredential({ credential, suite, documentLoader, checkStatus: statusCheck });
  out.checks.proof = (result.results || []).length > 0 && result.results.every((r) => r.verified);
  if (!out.checks.proof) {
    const problems = (result.results || []).filter((r) => !r.verified).map((r) => message(r.error));
    errors.push(`proof: ${problems.join('; ') || message(result.error)}`);
  }
  // The proof's method must belong to the credential's issuer (made explicit: the proof purpose checks
  // that the method's controller lists it, not that the controller is the issuer).
  const proofs = Array.isArray(credential.proof) ? credential.proof : [credential.proof];
  if (!proofs.every((p) => p && typeof p.verificationMethod === 'string' &&
                           p.verificationMethod.startsWith(`${issuer}#`))) {
    errors.push(`proof verificationMethod is not a key of issuer ${issuer}`);
  }
  if (TRUST.length > 0 && !TRUST.includes(issuer)) errors.push(`issuer ${issuer} is not in CREDSYNC_TRUSTED_ISSUERS`);
  if (status) {
    out.checks.status = status.verified;
    if (status.verified) {
      ({ revoked: out.revoked, suspended: out.suspended } = statusBits(status));
      if (out.revoked) errors.push('revoked (bitstring status list)');
      if (out.suspended) errors.push('suspended (bitstring status list)');
    } else {
      errors.push(`status: ${message(status.error)}`);
    }
  }
  if (!result.verified && out.checks.proof && !(status && !status.verified)) {
    errors.push(`vc: ${message(result.error)}`);
  }
  out.verified = errors.length === 0;
  if (errors.length > 0) out.error = errors.join('; ');
  return out;
}

const arg = process.argv[2];
const lines = (!arg || arg === '-' ? readFileSync(0, 'utf8') : readFileSync(arg, 'utf8'))
  .split('\n')
  .filter((line) => line.trim().length > 0);
let failed = 0;
for (const line of lines) {
  let outcome;
  try {
    outcome = await check(JSON.parse(line));
  } catch (err) {
    outcome = { verified: false, issuer: null, id: null, revoked: null, checks: {}, error: message(err) };
  }
  if (!outcome.verified) failed += 1;
  process.stdout.write(JSON.stringify(outcome) + '\n');
}
process.exit(failed > 0 || lines.length === 0 ? 1 : 0);
