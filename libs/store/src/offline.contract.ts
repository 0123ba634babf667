/**
 * The contract every OfflineRepository adapter passes (XEP-0160 storage; one suite, every adapter).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshDomain, HOSTILE_NAMES, skipIf, type RepoHandle, type Skips } from './contract.fixtures';
import type { OfflineMessage, OfflineRepository } from './offline.port';

const LIMIT = 100;

function msg(n: number | string, from = 'bob@example.com/phone'): Omit<OfflineMessage, 'id'> {
  return {
    from,
    stanza: `<message from='${from}' type='chat'><body>${n}</body></message>`,
    storedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, Number(n) || 0)).toISOString(),
  };
}

function bodies(list: OfflineMessage[]): string[] {
  return list.map((m) => /<body>(.*)<\/body>/.exec(m.stanza)?.[1] ?? '?');
}

export function offlineContract(name: string, makeRepo: () => Promise<RepoHandle<OfflineRepository>>, skips?: Skips): void {
  describe(`OfflineRepository contract: ${name}`, () => {
    let handle: RepoHandle<OfflineRepository>;
    let repo: OfflineRepository;

    before(async () => {
      handle = await makeRepo();
      repo = handle.repo;
    });
    after(async () => {
      await handle?.close();
    });

    const t = (title: string, fn: () => Promise<void>) => it(title, skipIf(skips, title), fn);

    async function pushAll(d: string, u: string, ns: Array<number | string>): Promise<void> {
      // One after the other: the port lets callers serialize a user's pushes.
      for (const n of ns) assert.equal(await repo.push(d, u, msg(n), LIMIT), true);
    }

    t('a user without messages has none', async () => {
      const d = freshDomain();
      assert.deepEqual(await repo.list(d, 'alice'), []);
      assert.equal(await repo.count(d, 'alice'), 0);
    });

    t('messages come back oldest first with every field and distinct ids', async () => {
      const d = freshDomain();
      await pushAll(d, 'alice', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      const list = await repo.list(d, 'alice');
      assert.deepEqual(bodies(list), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
      assert.equal(new Set(list.map((m) => m.id)).size, 12);
      const ids = list.map((m) => Number(m.id));
      assert.ok(ids.every((n, i) => Number.isSafeInteger(n) && (i === 0 || n > ids[i - 1]!)), `ids increase: ${ids}`);
      for (const [i, m] of list.entries()) {
        const { id, ...rest } = m;
        assert.equal(typeof id, 'string');
        assert.deepEqual(rest, msg(i + 1));
      }
      assert.equal(await repo.count(d, 'alice'), 12);
    });

    t('list(max) returns the oldest max messages', async () => {
      const d = freshDomain();
      await pushAll(d, 'alice', [1, 2, 3, 4, 5]);
      assert.deepEqual(bodies(await repo.list(d, 'alice', 2)), ['1', '2']);
      assert.deepEqual(bodies(await repo.list(d, 'alice', 5)), ['1', '2', '3', '4', '5']);
      assert.deepEqual(bodies(await repo.list(d, 'alice', 50)), ['1', '2', '3', '4', '5']);
      assert.deepEqual(await repo.list(d, 'alice', 0), []);
    });

    t('push refuses once the user has limit messages', async () => {
      const d = freshDomain();
      for (let i = 1; i <= 3; i++) assert.equal(await repo.push(d, 'alice', msg(i), 3), true);
      assert.equal(await repo.push(d, 'alice', msg(4), 3), false);
      assert.equal(await repo.count(d, 'alice'), 3);
      assert.deepEqual(bodies(await repo.list(d, 'alice')), ['1', '2', '3']);
      assert.equal(await repo.push(d, 'bob', msg(1), 3), true, 'the limit is per user');
      assert.equal(await repo.push(d, 'carol', msg(1), 0), false, 'limit 0 stores nothing');
      assert.equal(await repo.count(d, 'carol'), 0);

      const [oldest] = await repo.list(d, 'alice', 1);
      await repo.remove(d, 'alice', [oldest!.id]);
      assert.equal(await repo.push(d, 'alice', msg(5), 3), true);
      assert.deepEqual(bodies(await repo.list(d, 'alice')), ['2', '3', '5']);
    });

    t('remove deletes the given ids and ignores unknown ones', async () => {
      const d = freshDomain();
      await pushAll(d, 'alice', [1, 2, 3, 4, 5]);
      const list = await repo.list(d, 'alice');
      await repo.remove(d, 'alice', [list[1]!.id, list[3]!.id, 'no-such-id', '', '999999999999', '-1', list[1]!.id]);
      assert.deepEqual(bodies(await repo.list(d, 'alice')), ['1', '3', '5']);
      assert.equal(await repo.count(d, 'alice'), 3);
      await repo.remove(d, 'alice', []);
      await repo.remove(d, 'alice', [list[1]!.id]);
      assert.equal(await repo.count(d, 'alice'), 3);
      await pushAll(d, 'alice', [6]);
      const after = await repo.list(d, 'alice');
      assert.deepEqual(bodies(after), ['1', '3', '5', '6'], 'order holds after removals');
      await repo.remove(d, 'alice', after.map((m) => m.id));
      await pushAll(d, 'alice', [7]);
      const [fresh] = await repo.list(d, 'alice');
      assert.ok(!list.some((m) => m.id === fresh!.id), 'an id is never reused for the user');
    });

    t("remove never deletes another user's messages, even given their ids", async () => {
      const a = freshDomain();
      const b = freshDomain();
      await pushAll(a, 'alice', [1, 2]);
      await pushAll(a, 'bob', [1, 2]);
      await pushAll(b, 'alice', [1, 2]);
      // Ids are unique per user only: pass those of the others that alice has no message under.
      const own = new Set((await repo.list(a, 'alice')).map((m) => m.id));
      const ids = [...(await repo.list(a, 'bob')), ...(await repo.list(b, 'alice'))].map((m) => m.id).filter((id) => !own.has(id));
      await repo.remove(a, 'alice', ids);
      assert.equal(await repo.count(a, 'bob'), 2);
      assert.equal(await repo.count(b, 'alice'), 2);
      assert.equal(await repo.count(a, 'alice'), 2);
    });

    t('deleteAll empties one user of one domain only', async () => {
      const a = freshDomain();
      const b = freshDomain();
      await pushAll(a, 'alice', [1, 2, 3]);
      await pushAll(a, 'bob', [1]);
      await pushAll(b, 'alice', [1, 2]);
      await repo.deleteAll(a, 'alice');
      assert.equal(await repo.count(a, 'alice'), 0);
      assert.deepEqual(await repo.list(a, 'alice'), []);
      assert.equal(await repo.count(a, 'bob'), 1);
      assert.deepEqual(bodies(await repo.list(b, 'alice')), ['1', '2']);
      await repo.deleteAll(a, 'alice');
      await pushAll(a, 'alice', [9]);
      assert.deepEqual(bodies(await repo.list(a, 'alice')), ['9']);
    });

    t('a domain or username that is a prefix of another does not see its messages', async () => {
      const base = freshDomain();
      await pushAll(`${base}x`, 'alice', [1]);
      await pushAll(`sub.${base}`, 'alice', [1]);
      await pushAll(base, 'alicex', [1]);
      assert.equal(await repo.count(base, 'alice'), 0);
      assert.deepEqual(await repo.list(base, 'alice'), []);
      await repo.deleteAll(base, 'alice');
      assert.equal(await repo.count(base, 'alicex'), 1);
      assert.equal(await repo.count(`${base}x`, 'alice'), 1);
    });

    t('unicode and key-hostile owners, senders and bodies round-trip', async () => {
      const d = freshDomain();
      for (const u of HOSTILE_NAMES) {
        assert.equal(await repo.push(d, u, msg(`für ${u} 🦄`, `${u}@例子.测试/ресурс`), LIMIT), true);
      }
      for (const u of HOSTILE_NAMES) {
        const list = await repo.list(d, u);
        assert.equal(list.length, 1, u);
        assert.equal(list[0]!.from, `${u}@例子.测试/ресурс`);
        assert.deepEqual(bodies(list), [`für ${u} 🦄`]);
      }
      assert.equal(await repo.count(d, 'a'), 0);
    });

    t('empty domain or username is a RangeError', async () => {
      const d = freshDomain();
      await assert.rejects(repo.push('', 'alice', msg(1), LIMIT), RangeError);
      await assert.rejects(repo.push(d, '', msg(1), LIMIT), RangeError);
      await assert.rejects(repo.list(d, ''), RangeError);
      await assert.rejects(repo.count('', 'alice'), RangeError);
      await assert.rejects(repo.remove(d, '', ['1']), RangeError);
      await assert.rejects(repo.deleteAll(d, ''), RangeError);
    });
  });
}
