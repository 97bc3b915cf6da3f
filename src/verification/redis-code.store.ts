// The Redis code store: one hash per customer and channel, with a TTL; reserve and consume are
// Lua scripts, so counting an attempt and single use are atomic across replicas.
import type { Redis } from "ioredis";
import { codeKey, type CodeKey, type CodeStore, type Reservation, type StoredCode } from "./code.store.js";

// KEYS[1] = code key. Returns {0} none, {-1} burned (more attempts than allowed; the code
// stays so earlier, in-limit reservations can still consume it), or {1, h, d, n, x, m, left}.
const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local a = redis.call('HINCRBY', KEYS[1], 'a', 1)
local m = tonumber(redis.call('HGET', KEYS[1], 'm'))
if a > m then return {-1} end
local v = redis.call('HMGET', KEYS[1], 'h', 'd', 'n', 'x')
return {1, v[1], v[2], v[3], v[4], tostring(m), tostring(m - a)}
`;

// KEYS[1] = code key, ARGV[1] = nonce. Deletes only the reserved issue of the code.
const CONSUME = `
if redis.call('HGET', KEYS[1], 'n') == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`;

type ScriptedRedis = Redis & {
  cmsReserve(key: string): Promise<Array<number | string>>;
  cmsConsume(key: string, nonce: string): Promise<number>;
};

export class RedisCodeStore implements CodeStore {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    if (!("cmsReserve" in redis)) {
      redis.defineCommand("cmsReserve", { numberOfKeys: 1, lua: RESERVE });
      redis.defineCommand("cmsConsume", { numberOfKeys: 1, lua: CONSUME });
    }
    this.redis = redis as ScriptedRedis;
  }

  async put(key: CodeKey, code: StoredCode, ttlMs: number): Promise<void> {
    const k = codeKey(key);
    await this.redis
      .multi()
      .del(k)
      .hset(k, { h: code.hash, d: code.destinationHash, n: code.nonce, x: String(code.expiresAt), m: String(code.maxAttempts), a: "0" })
      .pexpire(k, ttlMs)
      .exec()
      .then((results) => {
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0];
      });
  }

  async reserve(key: CodeKey): Promise<Reservation> {
    const r = await this.redis.cmsReserve(codeKey(key));
    if (r[0] === 0) return { kind: "none" };
    if (r[0] === -1) return { kind: "burned" };
    const [, hash, destinationHash, nonce, expiresAt, maxAttempts, left] = r.map(String);
    return {
      kind: "reserved",
      code: { hash: hash!, destinationHash: destinationHash!, nonce: nonce!, expiresAt: Number(expiresAt), maxAttempts: Number(maxAttempts) },
      attemptsLeft: Number(left),
    };
  }

  async consume(key: CodeKey, nonce: string): Promise<boolean> {
    return (await this.redis.cmsConsume(codeKey(key), nonce)) === 1;
  }

  async discard(key: CodeKey): Promise<void> {
    await this.redis.del(codeKey(key));
  }
}
