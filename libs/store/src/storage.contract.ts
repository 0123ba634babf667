/**
 * The contract of a whole Storage bundle from openStorage(): deleteAccountData reaches every port and
 * nothing else, and the account change feed reports writes made through another Storage (another process).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@kxmpp/testing';
import { freshDomain, skipIf, type Skips } from './contract.fixtures';
import { deriveAllCredentials } from './scram';
import { deleteAccountData, type Storage } from './storage';

async function fill(s: Storage, d: string, u: string): Promise<void> {
  await s.roster.update(d, u, 'x@example.com', () => ({ jid: 'x@example.com', groups: ['g'], subscription: 'both', ask: false, pendingIn: false, approved: false }));
  assert.equal(await s.offline.push(d, u, { from: 'x@example.com/r', stanza: '<message/>', storedAt: '2024-01-01T00:00:00.000Z' }, 10), true);
  await s.blocklist.add(d, u, ['spam@example.com']);
  await s.vcard.set(d, u, "<vCard xmlns='vcard-temp'/>");
  await s.privateXml.set(d, u, 'storage', 'storage:bookmarks', '<storage/>');
  await s.lastActivity.set(d, u, { at: '2024-01-01T00:00:00.000Z', status: '' });
}

async function holdings(s: Storage, d: string, u: string): Promise<number[]> {
  return [
    (await s.roster.get(d, u)).items.length,
    await s.offline.count(d, u),
    (await s.blocklist.get(d, u)).length,
    (await s.vcard.get(d, u)) === null ? 0 : 1,
    (await s.privateXml.get(d, u, 'storage', 'storage:bookmarks')) === null ? 0 : 1,
    (await s.lastActivity.get(d, u)) === null ? 0 : 1,
  ];
}

export function storageContract(name: string, openStorage: () => Promise<Storage>, skips?: Skips): void {
  describe(`Storage contract: ${name}`, () => {
    let a: Storage;
    let b: Storage;
    before(async () => {
      [a, b] = await Promise.all([openStorage(), openStorage()]);
    });
    after(async () => {
      await Promise.all([a?.close(), b?.close()]);
    });

    const t = (title: string, fn: () => Promise<void>) => it(title, skipIf(skips, title), fn);

    t('deleteAccountData empties every port for one account and leaves the same name elsewhere', async () => {
      const d1 = freshDomain();
      const d2 = freshDomain();
      await fill(a, d1, 'alice');
      await fill(a, d1, 'bob');
      await fill(a, d2, 'alice');
      assert.deepEqual(await holdings(a, d1, 'alice'), [1, 1, 1, 1, 1, 1]);
      await deleteAccountData(a, d1, 'alice');
      assert.deepEqual(await holdings(a, d1, 'alice'), [0, 0, 0, 0, 0, 0]);
      assert.deepEqual(await holdings(b, d1, 'bob'), [1, 1, 1, 1, 1, 1]);
      assert.deepEqual(await holdings(b, d2, 'alice'), [1, 1, 1, 1, 1, 1]);
    });

    t('the account change feed reports writes made through another Storage', async () => {
      const d = freshDomain();
      const seen: string[] = [];
      const stop = await b.accountChanges.watchChanges((domain, username) => {
        if (domain === d) seen.push(username);
      });
      try {
        const scram = deriveAllCredentials('pw', 16);
        assert.equal(await a.accounts.create({ domain: d, username: 'ñandú.🦄', scram, createdAt: new Date().toISOString() }), true);
        await eventually(() => seen.length >= 1, 5000, 'create notice');
        assert.equal(await a.accounts.setCredentials(d, 'ñandú.🦄', deriveAllCredentials('pw2', 16)), true);
        await eventually(() => seen.length >= 2, 5000, 'setCredentials notice');
        assert.equal(await a.accounts.delete(d, 'ñandú.🦄'), true);
        await eventually(() => seen.length >= 3, 5000, 'delete notice');
        assert.deepEqual(seen, ['ñandú.🦄', 'ñandú.🦄', 'ñandú.🦄']);
      } finally {
        stop();
      }
      // Writes that change nothing need no notice, and after stop() nothing more arrives.
      assert.equal(await a.accounts.create({ domain: d, username: 'late', scram: deriveAllCredentials('pw', 16), createdAt: new Date().toISOString() }), true);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 3);
    });
  });
}
