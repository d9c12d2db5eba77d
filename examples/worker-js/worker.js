// A Cockpit job worker in JavaScript (Node.js), written only against the protocol of
// docs/workers.md: it asks for jobs of one type, completes each with variables of its
// own, and keeps going until it has completed the number of jobs asked for (0: forever).
//
//   npm ci && node worker.js nats://127.0.0.1:4222 work 0
//
// Each job completes with "handledBy": "node" and "total": amount * 2 (the instance keeps
// both; the task's own input mapping "doubled" is local to the task, as in Camunda 7).
"use strict";
const { connect, JSONCodec } = require("nats");

const [url = "nats://127.0.0.1:4222", type = "work", limit = "0", prefix = "cockpit"] = process.argv.slice(2);
const jc = JSONCodec();
const worker = `node-${process.pid}`;

// call sends one request and returns its reply, throwing on a refusal.
async function call(nc, verb, body, timeoutMs) {
  const msg = await nc.request(`${prefix}.jobs.${verb}`, jc.encode(body), { timeout: timeoutMs });
  const reply = jc.decode(msg.data);
  if (reply.error) {
    const err = new Error(`${verb}: ${reply.error.code}: ${reply.error.message}`);
    err.code = reply.error.code;
    throw err;
  }
  return reply;
}

async function main() {
  const nc = await connect({ servers: url, name: worker });
  let done = 0;
  const want = Number(limit);
  while (want === 0 || done < want) {
    const { jobs } = await call(nc, "activate",
      { worker, types: [type], maxJobs: 10, lockMs: 60000, waitMs: 5000 }, 15000);
    for (const job of jobs) {
      const ref = { worker, key: job.key, instanceId: job.instanceId, attempt: job.attempt, deadline: job.deadline };
      const amount = Number(job.variables.amount || 0);
      try {
        await call(nc, "complete", { ...ref, variables: { handledBy: "node", total: amount * 2 } }, 10000);
        done++;
      } catch (err) {
        if (err.code !== "lock_lost") throw err;
        console.error(`job ${job.key}: ${err.message}`); // it ran elsewhere; drop it
      }
    }
  }
  await nc.drain();
  console.log(`completed ${done} jobs`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
