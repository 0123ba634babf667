/**
 * The contract every AccountsRepository adapter passes (ARCHITECTURE.md "Storage": one suite, every
 * adapter). An adapter spec calls `accountsContract('jetstream', makeRepo)`.
 *
 * Each case works in its own random domain, so the suite also runs against a shared, long-lived
 * database (MONGODB_URI) without cleanup between runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AccountRecord, AccountsRepository } from './accounts.port';
import { skipIf, type Skips } from './contract.fixtures';
import { deriveAllCredentials, verifyPassword, type ScramCredential, type ScramMech } from './scram';

export interface AccountsRepoHandle {
  repo: AccountsRepository;
  close(): Promise<void>;
}

// Few iterations: the contract is about storage, not key stretching.
const ITERATIONS = 64;

function freshDomain(): string {
  return `t${randomBytes(6).toString('hex')}.example`;
}

function credentials(password: string): Record<ScramMech, ScramCredential> {
  return deriveAllCredentials(password, ITERATIONS);
}

function record(domain: string, username: string, password = 'secret'): AccountRecord {
  return { domain, username, scram: credentials(password), createdAt: new Date().toISOString() };
}

export function accountsContract(name: string, makeRepo: () => Promise<AccountsRepoHandle>, skips?: Skips): void {
  describe(`AccountsRepository contract: ${name}`, () => {
    let handle: AccountsRepoHandle;
    let repo: AccountsRepository;

    before(async () => {
      handle = await makeRepo();
      repo = handle.repo;
    });
    after(async () => {
      await handle?.close();
    });

    it('create then get returns the same record', async () => {
      const d = freshDomain();
      const rec = record(d, 'alice');
      assert.equal(await repo.create(rec), true);
      assert.deepEqual(await repo.get(d, 'alice'), rec);
      assert.equal(await repo.get(d, 'bob'), null);
      assert.equal(await repo.get(freshDomain(), 'alice'), null);
    });

    it('a second create of the same account returns false and keeps the first', async () => {
      const d = freshDomain();
      const first = record(d, 'alice', 'one');
      assert.equal(await repo.create(first), true);
      assert.equal(await repo.create(record(d, 'alice', 'two')), false);
      const got = await repo.get(d, 'alice');
      assert.ok(got);
      assert.equal(verifyPassword(got.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'one'), true);
    });

    it('of 10 concurrent creates of one account exactly one wins', async () => {
      const d = freshDomain();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => repo.create(record(d, 'race', `pw${i}`))));
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      const got = await repo.get(d, 'race');
      assert.ok(got);
      assert.equal(verifyPassword(got.scram['SCRAM-SHA-1'], 'SCRAM-SHA-1', `pw${winner}`), true);
      assert.equal(await repo.count(d), 1);
    });

    it('setCredentials replaces the password', async () => {
      const d = freshDomain();
      assert.equal(await repo.create(record(d, 'alice', 'old')), true);
      assert.equal(await repo.setCredentials(d, 'alice', credentials('new')), true);
      const got = await repo.get(d, 'alice');
      assert.ok(got);
      for (const mech of ['SCRAM-SHA-1', 'SCRAM-SHA-256'] as const) {
        assert.equal(verifyPassword(got.scram[mech], mech, 'new'), true, mech);
        assert.equal(verifyPassword(got.scram[mech], mech, 'old'), false, mech);
      }
      assert.equal(got.username, 'alice');
      assert.equal(got.domain, d);
    });

    it('setCredentials on a missing account returns false and creates nothing', async () => {
      const d = freshDomain();
      assert.equal(await repo.setCredentials(d, 'ghost', credentials('x')), false);
      assert.equal(await repo.get(d, 'ghost'), null);
      assert.equal(await repo.count(d), 0);
    });

    it('delete removes the account; it can be created again', async () => {
      const d = freshDomain();
      assert.equal(await repo.create(record(d, 'alice', 'first')), true);
      assert.equal(await repo.delete(d, 'alice'), true);
      assert.equal(await repo.get(d, 'alice'), null);
      assert.equal(await repo.delete(d, 'alice'), false);
      assert.equal(await repo.setCredentials(d, 'alice', credentials('x')), false);
      assert.equal(await repo.count(d), 0);
      assert.deepEqual(await repo.list(d), []);

      assert.equal(await repo.create(record(d, 'alice', 'second')), true);
      assert.equal(await repo.create(record(d, 'alice', 'third')), false);
      const got = await repo.get(d, 'alice');
      assert.ok(got);
      assert.equal(verifyPassword(got.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'second'), true);
      assert.equal(await repo.count(d), 1);
    });

    it('concurrent creates after a delete: exactly one wins', async () => {
      const d = freshDomain();
      assert.equal(await repo.create(record(d, 'bob')), true);
      assert.equal(await repo.delete(d, 'bob'), true);
      const results = await Promise.all(Array.from({ length: 5 }, () => repo.create(record(d, 'bob'))));
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('delete of a missing account returns false', async () => {
      assert.equal(await repo.delete(freshDomain(), 'nobody'), false);
    });

    it('list and count are per domain (tenant isolation)', async () => {
      const a = freshDomain();
      const b = freshDomain();
      for (const u of ['carol', 'alice', 'bob']) assert.equal(await repo.create(record(a, u)), true);
      for (const u of ['alice', 'zed']) assert.equal(await repo.create(record(b, u)), true);

      assert.equal(await repo.count(a), 3);
      assert.equal(await repo.count(b), 2);
      assert.deepEqual(await repo.list(a), ['alice', 'bob', 'carol']);
      assert.deepEqual(await repo.list(b), ['alice', 'zed']);
      assert.deepEqual(await repo.list(a, 2), ['alice', 'bob']);
      assert.deepEqual(await repo.list(a, 0), []);

      assert.equal(await repo.delete(b, 'alice'), true);
      assert.notEqual(await repo.get(a, 'alice'), null, 'deleting in one domain leaves the other alone');
      assert.equal(await repo.count(a), 3);
      assert.deepEqual(await repo.list(b), ['zed']);
    });

    it('a domain that is a prefix of another does not see its accounts', async () => {
      const base = freshDomain();
      const longer = `${base}x`;
      const sub = `sub.${base}`;
      assert.equal(await repo.create(record(longer, 'alice')), true);
      assert.equal(await repo.create(record(sub, 'bob')), true);
      assert.equal(await repo.count(base), 0);
      assert.deepEqual(await repo.list(base), []);
      assert.equal(await repo.get(base, 'alice'), null);
    });

    it('unicode and key-hostile usernames round-trip', async () => {
      const d = freshDomain();
      const names = ['ñandú', 'юзер', '用户', '🦄', 'a.b', 'a*b', 'a>b', 'x=y,z', 'a_b-c'];
      for (const u of names) assert.equal(await repo.create(record(d, u, `pw-${u}`)), true, u);
      for (const u of names) {
        const got = await repo.get(d, u);
        assert.ok(got, u);
        assert.equal(got.username, u);
        assert.equal(verifyPassword(got.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', `pw-${u}`), true, u);
      }
      assert.equal(await repo.count(d), names.length);
      assert.deepEqual(new Set(await repo.list(d)), new Set(names));
      assert.equal(await repo.get(d, 'a'), null);
    });

    const codePoints = 'list orders usernames by code point, beyond the BMP too';
    it(codePoints, skipIf(skips, codePoints), async () => {
      const d = freshDomain();
      // U+FF5A sorts before U+1F984 by code point (and UTF-8 bytes) but after it by UTF-16 code units.
      const names = ['\u{1F984}', '\uFF5A', 'z', 'Z', '\u00E9'];
      for (const u of names) assert.equal(await repo.create(record(d, u)), true, u);
      assert.deepEqual(await repo.list(d), ['Z', 'z', '\u00E9', '\uFF5A', '\u{1F984}']);
      assert.deepEqual(await repo.list(d, 4), ['Z', 'z', '\u00E9', '\uFF5A']);
    });

    it('empty domain or username is a RangeError', async () => {
      await assert.rejects(repo.get('', 'alice'), RangeError);
      await assert.rejects(repo.get(freshDomain(), ''), RangeError);
      await assert.rejects(repo.create(record('', 'alice')), RangeError);
      await assert.rejects(repo.setCredentials(freshDomain(), '', credentials('x')), RangeError);
      await assert.rejects(repo.delete('', 'alice'), RangeError);
      await assert.rejects(repo.list(''), RangeError);
      await assert.rejects(repo.count(''), RangeError);
    });
  });
}
