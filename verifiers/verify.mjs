// Third-party check of credsync credentials: did-jwt-vc + key-did-resolver, offline.
// Usage: node verify.mjs <vc-jwt> | node verify.mjs - (reads JWTs, one per line, from stdin)
// Prints one JSON line per credential: {"verified":true,"issuer":...,"id":...} or
// {"verified":false,"error":...}; exits 1 if any credential failed to verify.
import { readFileSync } from 'node:fs';
import { verifyCredential } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'key-did-resolver';

const resolver = new Resolver(getResolver());

async function check(jwt) {
  try {
    const result = await verifyCredential(jwt, resolver);
    const vc = result.verifiableCredential;
    return { verified: true, issuer: result.issuer, id: vc.id, type: vc.type };
  } catch (err) {
    return { verified: false, error: String(err && err.message ? err.message : err) };
  }
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
