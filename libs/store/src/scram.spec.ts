/** SCRAM credential derivation against the RFC 5802 §5 and RFC 7677 §3 examples. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  deriveAllCredentials,
  deriveScramCredential,
  deriveScramCredentialAsync,
  normalizePassword,
  scramHash,
  scramHmac,
  verifyPassword,
  verifyPasswordAsync,
  type ScramMech,
} from './scram';

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ (b[i] ?? 0)));
}

const vectors: { mech: ScramMech; salt: string; cnonce: string; snonce: string; proof: string; signature: string }[] = [
  {
    mech: 'SCRAM-SHA-1',
    salt: 'QSXCR+Q6sek8bf92',
    cnonce: 'fyko+d2lbbFgONRv9qkxdawL',
    snonce: '3rfcNHYJY1ZVvWVs7j',
    proof: 'v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    signature: 'rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    mech: 'SCRAM-SHA-256',
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    cnonce: 'rOprNGfwEbeRWgbNEkqO',
    snonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    proof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    signature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
];

describe('scram credentials', () => {
  for (const v of vectors) {
    it(`${v.mech}: stored and server keys match the RFC example`, async () => {
      const cred = deriveScramCredential(v.mech, 'pencil', { salt: Buffer.from(v.salt, 'base64'), iterations: 4096 });
      assert.deepEqual(await deriveScramCredentialAsync(v.mech, 'pencil', { salt: Buffer.from(v.salt, 'base64') }), cred);
      assert.equal(cred.salt, v.salt);
      assert.equal(cred.iterations, 4096);
      const nonce = v.cnonce + v.snonce;
      const authMessage = `n=user,r=${v.cnonce},r=${nonce},s=${v.salt},i=4096,c=biws,r=${nonce}`;
      const storedKey = Buffer.from(cred.storedKey, 'base64');
      const clientKey = xor(Buffer.from(v.proof, 'base64'), scramHmac(v.mech, storedKey, authMessage));
      assert.deepEqual(scramHash(v.mech, clientKey), storedKey);
      assert.equal(scramHmac(v.mech, Buffer.from(cred.serverKey, 'base64'), authMessage).toString('base64'), v.signature);
    });
  }

  it('verifyPassword accepts the password and rejects others', async () => {
    const all = deriveAllCredentials('correct horse', 64);
    for (const mech of ['SCRAM-SHA-1', 'SCRAM-SHA-256'] as const) {
      assert.equal(verifyPassword(all[mech], mech, 'correct horse'), true);
      assert.equal(verifyPassword(all[mech], mech, 'correct horse '), false);
      assert.equal(await verifyPasswordAsync(all[mech], mech, 'correct horse'), true);
      assert.equal(await verifyPasswordAsync(all[mech], mech, 'wrong'), false);
    }
    assert.notEqual(all['SCRAM-SHA-1'].salt, all['SCRAM-SHA-256'].salt);
  });

  it('defaults to 4096 iterations and a 16-byte random salt', () => {
    const a = deriveScramCredential('SCRAM-SHA-256', 'x');
    const b = deriveScramCredential('SCRAM-SHA-256', 'x');
    assert.equal(a.iterations, 4096);
    assert.equal(Buffer.from(a.salt, 'base64').length, 16);
    assert.notEqual(a.salt, b.salt);
    assert.notEqual(a.storedKey, b.storedKey);
  });

  it('normalizes like SASLprep for the RFC 4013 §3 examples that map', () => {
    assert.equal(normalizePassword('I\u00adX'), 'IX');
    assert.equal(normalizePassword('\u00aa'), 'a');
    assert.equal(normalizePassword('\u2168'), 'IX');
    assert.equal(normalizePassword('a\u00a0b'), 'a b');
    const cred = deriveScramCredential('SCRAM-SHA-256', 'IX', { iterations: 16 });
    assert.equal(verifyPassword(cred, 'SCRAM-SHA-256', 'I\u00adX'), true);
  });

  it('rejects a nonsensical iteration count', () => {
    assert.throws(() => deriveScramCredential('SCRAM-SHA-1', 'x', { iterations: 0 }), RangeError);
  });
});
