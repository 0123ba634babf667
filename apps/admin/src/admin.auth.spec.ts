import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bearerToken, tokenMatches } from './admin.auth';

describe('admin bearer token', () => {
  it('reads RFC 6750 Bearer credentials only', () => {
    assert.equal(bearerToken('Bearer abc.def-1'), 'abc.def-1');
    assert.equal(bearerToken('bearer abc'), 'abc');
    assert.equal(bearerToken('Bearer  abc '), 'abc');
    assert.equal(bearerToken('Basic abc'), null);
    assert.equal(bearerToken('Bearer'), null);
    assert.equal(bearerToken('Bearer a b'), null);
    assert.equal(bearerToken('abc'), null);
    assert.equal(bearerToken(undefined), null);
    assert.equal(bearerToken(Buffer.from('Bearer abc')), null);
  });

  it('matches the token exactly, a missing one never', () => {
    const d = createHash('sha256').update('s3cret-token-value').digest();
    assert.equal(tokenMatches(d, 's3cret-token-value'), true);
    assert.equal(tokenMatches(d, 's3cret-token-valuE'), false);
    assert.equal(tokenMatches(d, 's3cret-token-value '), false);
    assert.equal(tokenMatches(d, ''), false);
    assert.equal(tokenMatches(createHash('sha256').update('').digest(), null), false);
  });
});
