/**
 * The contract every RosterRepository adapter passes (ARCHITECTURE.md "Storage": one suite, every adapter).
 * An adapter spec calls `rosterContract('jetstream', makeRepo)`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshDomain, HOSTILE_NAMES, skipIf, type RepoHandle, type Skips } from './contract.fixtures';
import type { RosterItem, RosterRepository } from './roster.port';

function item(jid: string, extra: Partial<RosterItem> = {}): RosterItem {
  return { jid, groups: [], subscription: 'none', ask: false, pendingIn: false, approved: false, ...extra };
}

function withGroup(jid: string, group: string) {
  return (cur: RosterItem | null): RosterItem => {
    const base = cur ?? item(jid);
    return { ...base, groups: [...base.groups, group] };
  };
}

export function rosterContract(name: string, makeRepo: () => Promise<RepoHandle<RosterRepository>>, skips?: Skips): void {
  describe(`RosterRepository contract: ${name}`, () => {
    let handle: RepoHandle<RosterRepository>;
    let repo: RosterRepository;

    before(async () => {
      handle = await makeRepo();
      repo = handle.repo;
    });
    after(async () => {
      await handle?.close();
    });

    const t = (title: string, fn: () => Promise<void>) => it(title, skipIf(skips, title), fn);

    t('a user without items has version 0 and no items', async () => {
      assert.deepEqual(await repo.get(freshDomain(), 'alice'), { version: 0, items: [] });
      assert.equal(await repo.getItem(freshDomain(), 'alice', 'bob@example.com'), null);
    });

    t('update adds an item; get and getItem return it with every field', async () => {
      const d = freshDomain();
      const full = item('bob@example.com', {
        name: 'Bob',
        groups: ['Friends', 'Work'],
        subscription: 'from',
        ask: true,
        pendingIn: true,
        pendingInStanza: "<presence from='bob@example.com' type='subscribe'/>",
        approved: true,
      });
      const change = await repo.update(d, 'alice', full.jid, (cur) => {
        assert.equal(cur, null);
        return full;
      });
      assert.ok(change);
      assert.equal(change.previous, null);
      assert.deepEqual(change.item, full);
      assert.ok(change.version > 0);
      assert.deepEqual(await repo.getItem(d, 'alice', full.jid), full);
      assert.deepEqual(await repo.get(d, 'alice'), { version: change.version, items: [full] });
    });

    t('update passes the current item and reports previous and new', async () => {
      const d = freshDomain();
      const first = await repo.update(d, 'alice', 'bob@example.com', () => item('bob@example.com', { name: 'B' }));
      assert.ok(first);
      const second = await repo.update(d, 'alice', 'bob@example.com', (cur) => {
        assert.deepEqual(cur, item('bob@example.com', { name: 'B' }));
        return { ...cur!, subscription: 'both', name: 'Bobby' };
      });
      assert.ok(second);
      assert.deepEqual(second.previous, item('bob@example.com', { name: 'B' }));
      assert.deepEqual(second.item, item('bob@example.com', { name: 'Bobby', subscription: 'both' }));
      assert.ok(second.version > first.version);
    });

    t('fn returning undefined changes nothing and the version stays', async () => {
      const d = freshDomain();
      const added = await repo.update(d, 'alice', 'bob@example.com', () => item('bob@example.com'));
      assert.ok(added);
      assert.equal(await repo.update(d, 'alice', 'bob@example.com', () => undefined), null);
      assert.equal(await repo.update(d, 'alice', 'carol@example.com', () => undefined), null);
      assert.equal(await repo.update(d, 'alice', 'carol@example.com', () => null), null, 'deleting nothing is no change');
      const snap = await repo.get(d, 'alice');
      assert.equal(snap.version, added.version);
      assert.deepEqual(snap.items, [item('bob@example.com')]);
    });

    t('fn returning null deletes the item and raises the version', async () => {
      const d = freshDomain();
      const added = await repo.update(d, 'alice', 'bob@example.com', () => item('bob@example.com'));
      await repo.update(d, 'alice', 'carol@example.com', () => item('carol@example.com'));
      const removed = await repo.update(d, 'alice', 'bob@example.com', () => null);
      assert.ok(added && removed);
      assert.deepEqual(removed.previous, item('bob@example.com'));
      assert.equal(removed.item, null);
      assert.equal(await repo.getItem(d, 'alice', 'bob@example.com'), null);
      const snap = await repo.get(d, 'alice');
      assert.deepEqual(snap.items, [item('carol@example.com')]);
      assert.equal(snap.version, removed.version);
      assert.ok(removed.version > added.version);
      const again = await repo.update(d, 'alice', 'bob@example.com', () => item('bob@example.com', { name: 'back' }));
      assert.ok(again && again.version > removed.version, 'an item can come back after its delete');
      assert.equal(again.previous, null);
    });

    t('groups are stored distinct in the order given', async () => {
      const d = freshDomain();
      const change = await repo.update(d, 'alice', 'bob@example.com', () => item('bob@example.com', { groups: ['b', 'a', 'b', 'c', 'a'] }));
      assert.deepEqual(change?.item?.groups, ['b', 'a', 'c']);
      assert.deepEqual((await repo.getItem(d, 'alice', 'bob@example.com'))?.groups, ['b', 'a', 'c']);
    });

    t('the version strictly increases with every change', async () => {
      const d = freshDomain();
      let last = 0;
      for (let i = 0; i < 6; i++) {
        const jid = `c${i % 2}@example.com`;
        const change = await repo.update(d, 'alice', jid, i === 4 ? () => null : withGroup(jid, `g${i}`));
        assert.ok(change, `change ${i}`);
        assert.ok(change.version > last, `version ${change.version} after ${last}`);
        last = change.version;
        assert.equal((await repo.get(d, 'alice')).version, last);
      }
    });

    t('concurrent updates of different items all land, each raising the version', async () => {
      const d = freshDomain();
      const before = await repo.update(d, 'alice', 'first@example.com', () => item('first@example.com'));
      assert.ok(before);
      const jids = Array.from({ length: 12 }, (_, i) => `c${i}@example.com`);
      const changes = await Promise.all(jids.map((jid) => repo.update(d, 'alice', jid, () => item(jid))));
      const versions = changes.map((c) => c?.version ?? -1);
      assert.equal(new Set(versions).size, jids.length, 'every change has its own version');
      assert.ok(versions.every((v) => v > before.version));
      const snap = await repo.get(d, 'alice');
      assert.equal(snap.items.length, jids.length + 1);
      assert.ok(snap.version >= Math.max(...versions));
      for (const jid of jids) assert.deepEqual(await repo.getItem(d, 'alice', jid), item(jid));
    });

    t('concurrent updates of one item are applied one after the other', async () => {
      const d = freshDomain();
      const jid = 'bob@example.com';
      const [a, b] = await Promise.all([repo.update(d, 'alice', jid, withGroup(jid, 'A')), repo.update(d, 'alice', jid, withGroup(jid, 'B'))]);
      assert.ok(a && b);
      assert.notEqual(a.version, b.version);
      const got = await repo.getItem(d, 'alice', jid);
      assert.deepEqual([...(got?.groups ?? [])].sort(), ['A', 'B']);
      // One of them saw the other's write as its previous item.
      const [firstDone, secondDone] = a.version < b.version ? [a, b] : [b, a];
      assert.deepEqual(secondDone.previous, firstDone.item);

      const groups = Array.from({ length: 8 }, (_, i) => `G${i}`);
      await Promise.all(groups.map((g) => repo.update(d, 'alice', jid, withGroup(jid, g))));
      const all = await repo.getItem(d, 'alice', jid);
      assert.deepEqual([...(all?.groups ?? [])].sort(), ['A', 'B', ...groups].sort());
    });

    t('rosters are per user and per domain; deleteAll removes one user only', async () => {
      const a = freshDomain();
      const b = freshDomain();
      await repo.update(a, 'alice', 'x@example.com', () => item('x@example.com'));
      await repo.update(a, 'alice', 'y@example.com', () => item('y@example.com'));
      await repo.update(a, 'bob', 'x@example.com', () => item('x@example.com', { name: 'bob-x' }));
      await repo.update(b, 'alice', 'x@example.com', () => item('x@example.com', { name: 'other-domain' }));
      assert.equal((await repo.get(a, 'alice')).items.length, 2);
      assert.deepEqual((await repo.get(b, 'alice')).items, [item('x@example.com', { name: 'other-domain' })]);

      await repo.deleteAll(a, 'alice');
      assert.deepEqual((await repo.get(a, 'alice')).items, []);
      assert.equal(await repo.getItem(a, 'alice', 'x@example.com'), null);
      assert.deepEqual((await repo.get(a, 'bob')).items, [item('x@example.com', { name: 'bob-x' })]);
      assert.deepEqual((await repo.get(b, 'alice')).items, [item('x@example.com', { name: 'other-domain' })]);
      await repo.deleteAll(a, 'alice'); // idempotent
      await repo.deleteAll(freshDomain(), 'nobody');
    });

    t('after deleteAll the version never goes back, not even for a new roster of the same name', async () => {
      const d = freshDomain();
      let last = 0;
      for (const jid of ['x@example.com', 'y@example.com']) last = (await repo.update(d, 'alice', jid, () => item(jid)))?.version ?? 0;
      await repo.deleteAll(d, 'alice');
      const emptied = await repo.get(d, 'alice');
      assert.deepEqual(emptied.items, []);
      assert.ok(emptied.version >= last, `version ${emptied.version} after ${last}`);
      const again = await repo.update(d, 'alice', 'x@example.com', () => item('x@example.com'));
      assert.ok(again && again.version > emptied.version && again.version > last);
    });

    t('a domain or username that is a prefix of another does not see its items', async () => {
      const base = freshDomain();
      await repo.update(`${base}x`, 'alice', 'x@example.com', () => item('x@example.com'));
      await repo.update(`sub.${base}`, 'alice', 'x@example.com', () => item('x@example.com'));
      await repo.update(base, 'alicex', 'x@example.com', () => item('x@example.com'));
      assert.deepEqual(await repo.get(base, 'alice'), { version: 0, items: [] });
      await repo.deleteAll(base, 'alice');
      assert.equal((await repo.get(`${base}x`, 'alice')).items.length, 1);
      assert.equal((await repo.get(base, 'alicex')).items.length, 1);
    });

    t('unicode and key-hostile owners and contacts round-trip', async () => {
      const d = freshDomain();
      const contacts = ['ñandú@dömain.example', '用户@例子.测试', '🦄@example.com', 'a.b*c>@example.com', 'example.net', 'x@[::1]'];
      for (const owner of HOSTILE_NAMES) {
        for (const jid of contacts) {
          await repo.update(d, owner, jid, () => item(jid, { name: `${owner}→${jid}`, groups: ['Ünïcødé', '🦄'] }));
        }
      }
      for (const owner of HOSTILE_NAMES) {
        const snap = await repo.get(d, owner);
        assert.deepEqual(
          new Set(snap.items.map((i) => i.jid)),
          new Set(contacts),
          owner,
        );
        for (const jid of contacts) {
          assert.deepEqual(await repo.getItem(d, owner, jid), item(jid, { name: `${owner}→${jid}`, groups: ['Ünïcødé', '🦄'] }));
        }
      }
      assert.deepEqual((await repo.get(d, 'a')).items, []);
    });

    t('fn may mutate the item it gets without touching what update reports as previous', async () => {
      const d = freshDomain();
      await repo.update(d, 'alice', 'bob@example.com', () => item('bob@example.com', { groups: ['A'] }));
      const change = await repo.update(d, 'alice', 'bob@example.com', (cur) => {
        cur!.groups.push('B');
        return cur;
      });
      assert.deepEqual(change?.previous?.groups, ['A']);
      assert.deepEqual(change?.item?.groups, ['A', 'B']);
    });

    t('an item whose jid is not the key is rejected', async () => {
      const d = freshDomain();
      await assert.rejects(repo.update(d, 'alice', 'bob@example.com', () => item('carol@example.com')), RangeError);
      assert.deepEqual((await repo.get(d, 'alice')).items, []);
    });

    t('empty domain, username or contact is a RangeError', async () => {
      const d = freshDomain();
      await assert.rejects(repo.get('', 'alice'), RangeError);
      await assert.rejects(repo.get(d, ''), RangeError);
      await assert.rejects(repo.getItem(d, 'alice', ''), RangeError);
      await assert.rejects(repo.update(d, '', 'bob@example.com', () => item('bob@example.com')), RangeError);
      await assert.rejects(repo.update(d, 'alice', '', () => item('')), RangeError);
      await assert.rejects(repo.deleteAll('', 'alice'), RangeError);
    });
  });
}
