// events/event.sequencer.ts and the number_customer_events function (migration
// event_numbering_after_commit): events are inserted without a number and numbered after their
// commit, gapless, in append order; the calls that commit while a numbering runs share the next
// one; a failed numbering does not fail the call; start() numbers what a crash left behind.
// On the real database, as the service's role (row-level security on), in a database of this
// file's own: the other files' servers sweep every tenant's unnumbered events every second, and
// would number (and lock) this file's behind its back.
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openOrm } from "../../src/db/orm.js";
import { createScopes, deferUntilCommit, type Scopes } from "../../src/db/scope.js";
import { literal } from "../../src/db/sql.js";
import { appendStatement, EVENTS_CHANNEL, EventRepository } from "../../src/events/event.repository.js";
import { EventSequencer, NUMBERING_BATCH, numberingStore, type NumberingStore } from "../../src/events/event.sequencer.js";
import { sql } from "../support/app.js";
import { createOwnDatabase, type OwnDatabase } from "../support/own-database.js";

let database: OwnDatabase | undefined;
let serviceUrl: string;
let orm: MikroORM;
let scopes: Scopes;

beforeAll(async () => {
  database = await createOwnDatabase("cms_sequencer");
  serviceUrl = database.serviceUrl;
  orm = await openOrm(serviceUrl, 6);
  scopes = createScopes(orm);
});

afterAll(async () => {
  scopes?.close();
  await orm?.close(true);
  await database?.drop();
});

const event = (tenantId: string, requestId = randomUUID()) => ({
  tenantId,
  customerId: randomUUID(),
  type: "CUSTOMER_UPDATED",
  actor: "system",
  requestId,
  reason: null,
  note: "",
  changedFields: ["metadata"],
  time: new Date(),
});

/** An event repository with a sequencer of its own, as one process of the service has. */
const processRepository = () => new EventRepository(new EventSequencer(numberingStore(scopes), () => undefined));

/** Commits `n` events of the tenant without numbering them (what a crash right after the commit
 * leaves), one transaction each. */
async function unnumbered(tenantId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await scopes.tenant(tenantId)(async (em) => deferUntilCommit(em, appendStatement(event(tenantId))));
}

/** The tenant's events in append order, and its counter. */
async function numbers(tenantId: string): Promise<{ seqs: Array<number | null>; last: number | undefined }> {
  return scopes.tenant(tenantId)(async (em) => {
    const rows = await em.execute<Array<{ seq: string | null }>>("select seq from customer_events where tenant_id = ? order by append_order", [tenantId]);
    const [counter] = await em.execute<Array<{ last_seq: string }>>("select last_seq from tenant_event_sequences where tenant_id = ?", [tenantId]);
    return { seqs: rows.map((r) => (r.seq === null ? null : Number(r.seq))), last: counter === undefined ? undefined : Number(counter.last_seq) };
  });
}

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The service's numbering, its calls counted (and the first `failures` of them failing). */
function counting(failures = 0): { store: NumberingStore; calls: () => number } {
  const store = numberingStore(scopes);
  let calls = 0;
  let failing = failures;
  return {
    store: {
      ...store,
      number: (tenantId) => {
        calls++;
        return failing-- > 0 ? Promise.reject(new Error("connection terminated")) : store.number(tenantId);
      },
    },
    calls: () => calls,
  };
}

describe("EventSequencer", () => {
  it("start() numbers what a crash left unnumbered: gapless, in append order, with a notification", async () => {
    const tenant = randomUUID();
    const listener = new pg.Client({ connectionString: serviceUrl });
    await listener.connect();
    try {
      const notified = new Promise<string>((resolve) => listener.on("notification", (n) => n.payload === tenant && resolve(n.payload)));
      await listener.query(`listen ${EVENTS_CHANNEL}`);
      await unnumbered(tenant, 3);
      expect(await numbers(tenant)).toEqual({ seqs: [null, null, null], last: undefined });
      const sequencer = new EventSequencer(numberingStore(scopes), () => undefined, 60_000);
      await sequencer.start();
      await sequencer.stop();
      expect(await numbers(tenant)).toEqual({ seqs: [1, 2, 3], last: 3 });
      await expect(notified).resolves.toBe(tenant);
    } finally {
      await listener.end();
    }
  });

  it("writers of one tenant in two processes: each call returns with its event numbered, and together they are 1..n", async () => {
    const tenant = randomUUID();
    const repos = [processRepository(), processRepository()];
    const WRITES = 120;
    let next = 0;
    const own: Array<number | null> = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, worker) => {
        while (next < WRITES) {
          next++;
          const requestId = randomUUID();
          await scopes.tenant(tenant)(async (em) => repos[worker % 2]!.append(em, event(tenant, requestId)));
          const [row] = await scopes.tenant(tenant)((em) =>
            em.execute<Array<{ seq: string | null }>>("select seq from customer_events where tenant_id = ? and request_id = ?", [tenant, requestId]),
          );
          own.push(row!.seq === null ? null : Number(row!.seq));
        }
      }),
    );
    expect(own).not.toContain(null);
    // Append order is not commit order for transactions that touch different rows: a numbering
    // takes what has committed. The numbers are gapless all the same.
    const { seqs, last } = await numbers(tenant);
    expect([...seqs].sort((a, b) => a! - b!)).toEqual(oneToN(WRITES));
    expect(last).toBe(WRITES);
  });

  it("one customer's events, written one after another from two processes, are numbered in that order", async () => {
    const tenant = randomUUID();
    const customerId = randomUUID();
    const repos = [processRepository(), processRepository()];
    const WRITES = 30;
    // Two writers race on the customer's row (as UpdateCustomer does: the later one waits for the
    // earlier one's row lock, so it appends after the earlier commit).
    await scopes.tenant(tenant)((em) => em.execute("insert into tenant_event_sequences (tenant_id, last_seq) values (?, 0)", [tenant]));
    const order: string[] = [];
    await Promise.all(
      [0, 1].map(async (w) => {
        for (let i = 0; i < WRITES / 2; i++) {
          const requestId = randomUUID();
          await scopes.tenant(tenant)(async (em) => {
            await em.execute("select from tenant_event_sequences where tenant_id = ? for update", [tenant]);
            order.push(requestId);
            repos[w]!.append(em, { ...event(tenant, requestId), customerId });
          });
        }
      }),
    );
    const rows = await scopes.tenant(tenant)((em) =>
      em.execute<Array<{ request_id: string }>>("select request_id from customer_events where tenant_id = ? order by seq", [tenant]),
    );
    expect(rows.map((r) => r.request_id)).toEqual(order);
  });

  /** Holds the tenant's counter row (the row exists once a numbering ran) from a connection of
   * its own, so that the next numbering waits for it; `blocked()` returns once one does. */
  async function holdCounter(tenant: string) {
    await new EventSequencer(numberingStore(scopes), () => undefined).numbered(tenant); // the row exists
    const holder = new pg.Client({ connectionString: serviceUrl });
    await holder.connect();
    const pid = (await holder.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    await holder.query(`begin; select set_config('app.tenant_id', ${literal(tenant)}, true); select from tenant_event_sequences where tenant_id = ${literal(tenant)} for update`);
    let released = false;
    return {
      // Seen from a third connection (pg_stat_activity is frozen within the holder's transaction).
      blocked: () =>
        vi.waitFor(
          async () => {
            const [row] = await sql<{ n: number }>(
              serviceUrl,
              "select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid)) and query like 'select number_customer_events%'",
              [pid],
            );
            expect(row!.n).toBe(1);
          },
          { timeout: 5_000, interval: 20 },
        ),
      /** Ends the holder's transaction and connection (again: nothing). */
      release: async () => {
        if (released) return;
        released = true;
        await holder.query("rollback").catch(() => undefined);
        await holder.end();
      },
    };
  }

  it("the calls that commit while a numbering runs share the next one", async () => {
    const tenant = randomUUID();
    await unnumbered(tenant, 1);
    const count = counting();
    const sequencer = new EventSequencer(count.store, () => undefined);
    const held = await holdCounter(tenant);
    try {
      await unnumbered(tenant, 10);
      const first = sequencer.numbered(tenant);
      await held.blocked();
      const later = Array.from({ length: 10 }, () => sequencer.numbered(tenant));
      expect(count.calls()).toBe(1);
      await held.release();
      await Promise.all([first, ...later]);
      expect(count.calls()).toBe(2); // the blocked one, then ONE for the ten that waited
      expect(await numbers(tenant)).toEqual({ seqs: oneToN(11), last: 11 });
    } finally {
      await held.release();
    }
  });

  it("stop() waits for the numbering under way", async () => {
    const tenant = randomUUID();
    const sequencer = new EventSequencer(numberingStore(scopes), () => undefined, 60_000);
    await sequencer.start();
    const held = await holdCounter(tenant);
    try {
      await unnumbered(tenant, 2);
      const numbered = sequencer.numbered(tenant);
      await held.blocked();
      let stopped = false;
      const stopping = sequencer.stop().then(() => (stopped = true));
      await numbers(tenant); // a round trip: a stop() that did not wait would have settled by now
      expect(stopped).toBe(false);
      await held.release();
      await Promise.all([stopping, numbered]);
      expect(await numbers(tenant)).toEqual({ seqs: [1, 2], last: 2 });
    } finally {
      await held.release();
    }
  });

  it("a failed numbering does not fail the call: it is logged, and the next numbering takes the event", async () => {
    const tenant = randomUUID();
    await unnumbered(tenant, 2);
    const warnings: string[] = [];
    const count = counting(1);
    const sequencer = new EventSequencer(count.store, (message, err) => warnings.push(`${message}: ${err.message}`));
    await expect(sequencer.numbered(tenant)).resolves.toBeUndefined();
    expect(warnings).toEqual(["could not number committed events; the sweep will retry: connection terminated"]);
    expect((await numbers(tenant)).seqs).toEqual([null, null]);
    await sequencer.numbered(tenant);
    expect(await numbers(tenant)).toEqual({ seqs: [1, 2], last: 2 });
    expect(count.calls()).toBe(2);
  });

  it("numbers more than a batch in several statements before the call returns", async () => {
    const tenant = randomUUID();
    const n = NUMBERING_BATCH + 1; // unnumbered events, in one transaction
    await scopes.tenant(tenant)(async (em) => {
      for (let i = 0; i < n; i++) deferUntilCommit(em, appendStatement(event(tenant)));
    });
    const count = counting();
    await new EventSequencer(count.store, () => undefined).numbered(tenant);
    expect(count.calls()).toBe(2);
    expect(await numbers(tenant)).toEqual({ seqs: oneToN(n), last: n });
  });
});
