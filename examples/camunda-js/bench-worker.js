// The reference flow's three tasks (cockpit bench's bench.a, bench.b, bench.c) served by
// Camunda 7's JavaScript external-task client over /engine-rest, for
// `cockpit bench --engine-rest-worker examples/camunda-js/bench-worker.js`:
//
//   node bench-worker.js BASE_URL CONCURRENCY
//
// The first task's handler records when it started (benchStartedNs, Unix nanoseconds on
// this host) so the bench can time job commit to handler start.
import { Client, Variables } from "camunda-external-task-client-js";
import { performance } from "node:perf_hooks";

const [baseUrl, conc] = process.argv.slice(2);
// Several clients, as a service scales the client: each has one fetch in flight at a
// time, so with one client the tasks committed while its fetch is answered wait for the
// next one.
const clients = 4;
const maxTasks = Math.max(1, Math.min(100, Math.ceil((Number(conc) || 64) / clients)));
const nowNs = () => (BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n).toString();

const all = [];
for (let i = 0; i < clients; i++) {
  const client = new Client({
    baseUrl,
    workerId: `bench-js-${i}`,
    asyncResponseTimeout: 5000,
    maxTasks,
    interval: 0,
    lockDuration: 60000,
    autoPoll: false,
  });
  client.subscribe("bench.a", async ({ task, taskService }) => {
    await taskService.complete(task, new Variables().set("benchStartedNs", nowNs()));
  });
  for (const topic of ["bench.b", "bench.c"]) {
    client.subscribe(topic, async ({ task, taskService }) => {
      await taskService.complete(task);
    });
  }
  client.start();
  all.push(client);
}

const stop = () => {
  all.forEach((c) => c.stop());
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
