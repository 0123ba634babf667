/**
 * The contracts of the smaller per-account stores (XEP-0191, XEP-0054, XEP-0049, XEP-0012), one suite
 * per port, every adapter.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshDomain, HOSTILE_NAMES, skipIf, type RepoHandle, type Skips } from './contract.fixtures';
import type { BlocklistRepository, LastActivityRepository, PrivateXmlRepository, VCardRepository } from './account-data.port';

function suite<T>(title: string, makeRepo: () => Promise<RepoHandle<T>>, skips: Skips | undefined, body: (repo: () => T, t: (title: string, fn: () => Promise<void>) => void) => void): void {
  describe(title, () => {
    let handle: RepoHandle<T> | undefined;
    before(async () => {
      handle = await makeRepo();
    });
    after(async () => {
      await handle?.close();
    });
    body(
      () => handle!.repo,
      (name, fn) => it(name, skipIf(skips, name), fn),
    );
  });
}

export function blocklistContract(name: string, makeRepo: () => Promise<RepoHandle<BlocklistRepository>>, skips?: Skips): void {
  suite(`BlocklistRepository contract: ${name}`, makeRepo, skips, (repo, t) => {
    t('an empty blocklist', async () => {
      assert.deepEqual(await repo().get(freshDomain(), 'alice'), []);
    });

    t('add keeps the order added and each JID once', async () => {
      const d = freshDomain();
      await repo().add(d, 'alice', ['spam@example.com', 'example.net', 'eve@example.com/res', 'spam@example.com']);
      await repo().add(d, 'alice', ['eve@example.com/res', 'zed@example.com', 'example.net']);
      await repo().add(d, 'alice', []);
      assert.deepEqual(await repo().get(d, 'alice'), ['spam@example.com', 'example.net', 'eve@example.com/res', 'zed@example.com']);
    });

    t('concurrent adds of different and of the same JIDs all land once', async () => {
      const d = freshDomain();
      const jids = Array.from({ length: 10 }, (_, i) => `u${i}@example.com`);
      await Promise.all([...jids.map((j) => repo().add(d, 'alice', [j])), ...jids.map((j) => repo().add(d, 'alice', [j, 'same@example.com']))]);
      const got = await repo().get(d, 'alice');
      assert.deepEqual([...got].sort(), [...jids, 'same@example.com'].sort());
    });

    t('remove drops the given JIDs and ignores unknown ones; a re-add goes last', async () => {
      const d = freshDomain();
      await repo().add(d, 'alice', ['a@example.com', 'b@example.com', 'c@example.com']);
      await repo().remove(d, 'alice', ['b@example.com', 'nobody@example.com']);
      await repo().remove(d, 'alice', []);
      assert.deepEqual(await repo().get(d, 'alice'), ['a@example.com', 'c@example.com']);
      await repo().add(d, 'alice', ['b@example.com']);
      assert.deepEqual(await repo().get(d, 'alice'), ['a@example.com', 'c@example.com', 'b@example.com']);
    });

    t('clear empties one user of one domain only', async () => {
      const a = freshDomain();
      const b = freshDomain();
      await repo().add(a, 'alice', ['x@example.com', 'y@example.com']);
      await repo().add(a, 'bob', ['x@example.com']);
      await repo().add(b, 'alice', ['z@example.com']);
      await repo().add(`${a}x`, 'alice', ['p@example.com']);
      await repo().add(a, 'alicex', ['q@example.com']);
      await repo().clear(a, 'alice');
      assert.deepEqual(await repo().get(a, 'alice'), []);
      assert.deepEqual(await repo().get(a, 'bob'), ['x@example.com']);
      assert.deepEqual(await repo().get(b, 'alice'), ['z@example.com']);
      assert.deepEqual(await repo().get(`${a}x`, 'alice'), ['p@example.com']);
      assert.deepEqual(await repo().get(a, 'alicex'), ['q@example.com']);
      await repo().clear(a, 'alice');
      await repo().add(a, 'alice', ['y@example.com']);
      assert.deepEqual(await repo().get(a, 'alice'), ['y@example.com']);
    });

    t('unicode and key-hostile owners and JIDs round-trip', async () => {
      const d = freshDomain();
      const jids = ['ñandú@dömain.example', '用户@例子.测试/ресурс', '🦄@example.com', 'a.b*c>@example.com', '例子.测试'];
      for (const u of HOSTILE_NAMES) await repo().add(d, u, jids);
      for (const u of HOSTILE_NAMES) assert.deepEqual(await repo().get(d, u), jids, u);
      await repo().remove(d, HOSTILE_NAMES[0]!, ['🦄@example.com']);
      assert.deepEqual(await repo().get(d, HOSTILE_NAMES[0]!), jids.filter((j) => j !== '🦄@example.com'));
      assert.deepEqual(await repo().get(d, HOSTILE_NAMES[1]!), jids);
    });

    t('empty domain, username or JID is a RangeError', async () => {
      const d = freshDomain();
      await assert.rejects(repo().get('', 'alice'), RangeError);
      await assert.rejects(repo().get(d, ''), RangeError);
      await assert.rejects(repo().add(d, 'alice', ['']), RangeError);
      await assert.rejects(repo().remove('', 'alice', ['x@example.com']), RangeError);
      await assert.rejects(repo().remove(d, 'alice', ['']), RangeError);
      await assert.rejects(repo().add('', 'alice', []), RangeError);
      await assert.rejects(repo().clear(d, ''), RangeError);
      assert.deepEqual(await repo().get(d, 'alice'), []);
    });
  });
}

const VCARD = "<vCard xmlns='vcard-temp'><FN>Älice 🦄</FN><NICKNAME>al</NICKNAME></vCard>";

export function vcardContract(name: string, makeRepo: () => Promise<RepoHandle<VCardRepository>>, skips?: Skips): void {
  suite(`VCardRepository contract: ${name}`, makeRepo, skips, (repo, t) => {
    t('get, set, replace, delete', async () => {
      const d = freshDomain();
      assert.equal(await repo().get(d, 'alice'), null);
      await repo().set(d, 'alice', VCARD);
      assert.equal(await repo().get(d, 'alice'), VCARD);
      await repo().set(d, 'alice', "<vCard xmlns='vcard-temp'/>");
      assert.equal(await repo().get(d, 'alice'), "<vCard xmlns='vcard-temp'/>");
      await repo().delete(d, 'alice');
      assert.equal(await repo().get(d, 'alice'), null);
      await repo().delete(d, 'alice');
    });

    t('a vCard with an avatar-sized photo round-trips', async () => {
      const d = freshDomain();
      const photo = Buffer.alloc(96 * 1024, 7).toString('base64');
      const xml = `<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>${photo}</BINVAL></PHOTO></vCard>`;
      await repo().set(d, 'alice', xml);
      assert.equal(await repo().get(d, 'alice'), xml);
    });

    t('vCards are per user and per domain', async () => {
      const a = freshDomain();
      const b = freshDomain();
      for (const u of HOSTILE_NAMES) await repo().set(a, u, `<vCard xmlns='vcard-temp'><FN>${u}</FN></vCard>`);
      await repo().set(b, HOSTILE_NAMES[0]!, VCARD);
      for (const u of HOSTILE_NAMES) assert.equal(await repo().get(a, u), `<vCard xmlns='vcard-temp'><FN>${u}</FN></vCard>`);
      await repo().delete(a, HOSTILE_NAMES[0]!);
      assert.equal(await repo().get(a, HOSTILE_NAMES[0]!), null);
      assert.equal(await repo().get(b, HOSTILE_NAMES[0]!), VCARD);
      assert.notEqual(await repo().get(a, HOSTILE_NAMES[1]!), null);
      assert.equal(await repo().get(`${a}x`, HOSTILE_NAMES[1]!), null);
    });

    t('empty domain or username is a RangeError', async () => {
      await assert.rejects(repo().get('', 'alice'), RangeError);
      await assert.rejects(repo().set(freshDomain(), '', VCARD), RangeError);
      await assert.rejects(repo().delete('', 'alice'), RangeError);
    });
  });
}

const BOOKMARKS = 'storage:bookmarks';

export function privateXmlContract(name: string, makeRepo: () => Promise<RepoHandle<PrivateXmlRepository>>, skips?: Skips): void {
  suite(`PrivateXmlRepository contract: ${name}`, makeRepo, skips, (repo, t) => {
    t('one value per element name and namespace', async () => {
      const d = freshDomain();
      assert.equal(await repo().get(d, 'alice', 'storage', BOOKMARKS), null);
      await repo().set(d, 'alice', 'storage', BOOKMARKS, `<storage xmlns='${BOOKMARKS}'><conference jid='room@muc.example'/></storage>`);
      await repo().set(d, 'alice', 'storage', 'storage:rosternotes', "<storage xmlns='storage:rosternotes'/>");
      await repo().set(d, 'alice', 'prefs', BOOKMARKS, `<prefs xmlns='${BOOKMARKS}'/>`);
      assert.equal(await repo().get(d, 'alice', 'storage', BOOKMARKS), `<storage xmlns='${BOOKMARKS}'><conference jid='room@muc.example'/></storage>`);
      assert.equal(await repo().get(d, 'alice', 'storage', 'storage:rosternotes'), "<storage xmlns='storage:rosternotes'/>");
      assert.equal(await repo().get(d, 'alice', 'prefs', BOOKMARKS), `<prefs xmlns='${BOOKMARKS}'/>`);
      assert.equal(await repo().get(d, 'alice', 'prefs', 'storage:rosternotes'), null);
      await repo().set(d, 'alice', 'storage', BOOKMARKS, `<storage xmlns='${BOOKMARKS}'/>`);
      assert.equal(await repo().get(d, 'alice', 'storage', BOOKMARKS), `<storage xmlns='${BOOKMARKS}'/>`);
    });

    t('deleteAll removes one user of one domain only', async () => {
      const a = freshDomain();
      const b = freshDomain();
      await repo().set(a, 'alice', 'storage', BOOKMARKS, '<a/>');
      await repo().set(a, 'alice', 'x', 'urn:x', '<x/>');
      await repo().set(a, 'bob', 'storage', BOOKMARKS, '<b/>');
      await repo().set(b, 'alice', 'storage', BOOKMARKS, '<c/>');
      await repo().deleteAll(a, 'alice');
      assert.equal(await repo().get(a, 'alice', 'storage', BOOKMARKS), null);
      assert.equal(await repo().get(a, 'alice', 'x', 'urn:x'), null);
      assert.equal(await repo().get(a, 'bob', 'storage', BOOKMARKS), '<b/>');
      assert.equal(await repo().get(b, 'alice', 'storage', BOOKMARKS), '<c/>');
      await repo().deleteAll(a, 'alice');
    });

    t('unicode owners, names and namespaces round-trip', async () => {
      const d = freshDomain();
      for (const u of HOSTILE_NAMES) await repo().set(d, u, 'données', 'urn:ex:ünï.côdé', `<données xmlns='urn:ex:ünï.côdé'>${u}</données>`);
      for (const u of HOSTILE_NAMES) assert.equal(await repo().get(d, u, 'données', 'urn:ex:ünï.côdé'), `<données xmlns='urn:ex:ünï.côdé'>${u}</données>`);
      assert.equal(await repo().get(d, 'a', 'données', 'urn:ex:ünï.côdé'), null);
    });

    t('empty domain, username or element name is a RangeError', async () => {
      const d = freshDomain();
      await assert.rejects(repo().get('', 'alice', 'storage', BOOKMARKS), RangeError);
      await assert.rejects(repo().set(d, '', 'storage', BOOKMARKS, '<a/>'), RangeError);
      await assert.rejects(repo().set(d, 'alice', '', BOOKMARKS, '<a/>'), RangeError);
      await assert.rejects(repo().deleteAll(d, ''), RangeError);
    });
  });
}

export function lastActivityContract(name: string, makeRepo: () => Promise<RepoHandle<LastActivityRepository>>, skips?: Skips): void {
  suite(`LastActivityRepository contract: ${name}`, makeRepo, skips, (repo, t) => {
    t('get, set, replace, delete', async () => {
      const d = freshDomain();
      assert.equal(await repo().get(d, 'alice'), null);
      await repo().set(d, 'alice', { at: '2024-05-01T10:00:00.000Z', status: 'Gone fishing 🎣' });
      assert.deepEqual(await repo().get(d, 'alice'), { at: '2024-05-01T10:00:00.000Z', status: 'Gone fishing 🎣' });
      await repo().set(d, 'alice', { at: '2024-05-02T10:00:00.000Z', status: '' });
      assert.deepEqual(await repo().get(d, 'alice'), { at: '2024-05-02T10:00:00.000Z', status: '' });
      await repo().delete(d, 'alice');
      assert.equal(await repo().get(d, 'alice'), null);
      await repo().delete(d, 'alice');
    });

    t('last activity is per user and per domain', async () => {
      const a = freshDomain();
      const b = freshDomain();
      for (const [i, u] of HOSTILE_NAMES.entries()) await repo().set(a, u, { at: `2024-05-0${(i % 9) + 1}T00:00:00.000Z`, status: u });
      await repo().set(b, HOSTILE_NAMES[0]!, { at: '2020-01-01T00:00:00.000Z', status: 'b' });
      for (const [i, u] of HOSTILE_NAMES.entries()) assert.deepEqual(await repo().get(a, u), { at: `2024-05-0${(i % 9) + 1}T00:00:00.000Z`, status: u });
      await repo().delete(a, HOSTILE_NAMES[0]!);
      assert.equal(await repo().get(a, HOSTILE_NAMES[0]!), null);
      assert.deepEqual(await repo().get(b, HOSTILE_NAMES[0]!), { at: '2020-01-01T00:00:00.000Z', status: 'b' });
    });

    t('empty domain or username is a RangeError', async () => {
      await assert.rejects(repo().get('', 'alice'), RangeError);
      await assert.rejects(repo().set(freshDomain(), '', { at: '2024-05-01T10:00:00.000Z', status: '' }), RangeError);
      await assert.rejects(repo().delete('', 'alice'), RangeError);
    });
  });
}
