// Camunda 7's JavaScript external-task client (camunda-external-task-client-js), used
// exactly as against Camunda, against Cockpit's /engine-rest (docs/camunda.md).
//
//   node worker.js http://127.0.0.1:8080/engine-rest [token]
//
// It serves the topics "charge" and "ship" of order.bpmn. What "charge" does depends on
// the instance's variable "scenario":
//
//   ok        complete with typed variables (Integer, Long, Double, Boolean, String, Date,
//             Json, Short, Object, File)
//   flaky     fail once with retries 1 (a retry at once), then complete
//   declined  throw the BPMN error DECLINED (the boundary event catches it)
//   slow      extend the lock, then complete
//   broken    fail with retries 0: an incident opens
//
// "ship" reads what "charge" set, loads the file, and completes with what it saw
// (variable "seen": the types and values as the client handed them over).
import { Client, logger, Variables, File, BasicAuthInterceptor } from "camunda-external-task-client-js";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl) {
  console.error("usage: node worker.js BASE_URL [API_TOKEN]");
  process.exit(2);
}
const interceptors = token ? new BasicAuthInterceptor({ username: "worker", password: token }) : undefined;
const client = new Client({
  baseUrl,
  workerId: "js-worker-1",
  asyncResponseTimeout: 10000,
  maxTasks: 10,
  interval: 50,
  lockDuration: 20000,
  use: logger,
  interceptors,
});

const dir = mkdtempSync(join(tmpdir(), "camunda-js-"));
const receiptPath = join(dir, "receipt.txt");
writeFileSync(receiptPath, "receipt for order 7\n");

client.subscribe("charge", async ({ task, taskService }) => {
  const scenario = task.variables.get("scenario");
  switch (scenario) {
    case "flaky":
      if (task.retries == null) {
        await taskService.handleFailure(task, {
          errorMessage: "payment gateway timed out",
          errorDetails: "Error: timeout\n    at charge (worker.js)",
          retries: 1,
          retryTimeout: 0,
        });
        return;
      }
      break;
    case "declined": {
      const vars = new Variables().set("declineReason", "insufficient funds");
      await taskService.handleBpmnError(task, "DECLINED", "card declined", vars);
      return;
    }
    case "slow":
      await taskService.extendLock(task, 60000);
      break;
    case "broken":
      await taskService.handleFailure(task, {
        errorMessage: "card number malformed",
        errorDetails: "no retry can fix this",
        retries: 0,
        retryTimeout: 0,
      });
      return;
  }
  const file = await new File({ localPath: receiptPath, mimetype: "text/plain", encoding: "utf-8" }).load();
  const vars = new Variables()
    .set("amount", 42)
    .set("charged", 5000000000)
    .set("rate", 1.5)
    .set("paid", true)
    .set("note", "paid in full")
    .set("paidAt", new Date("2026-12-07T10:30:00.000Z"))
    .set("receipt", { id: 7, items: ["book", "pen"] })
    .setTyped("code", { type: "Short", value: 7, valueInfo: {} })
    .setTyped("customer", {
      type: "Object",
      value: JSON.stringify({ name: "Ada" }),
      valueInfo: { objectTypeName: "com.example.Customer", serializationDataFormat: "application/json" },
    })
    .set("receiptFile", file);
  await taskService.complete(task, vars);
});

client.subscribe("ship", async ({ task, taskService }) => {
  const seen = {};
  for (const [name, typed] of Object.entries(task.variables.getAllTyped())) {
    let value = typed.value;
    if (value instanceof File) {
      await value.load();
      value = { filename: value.filename, content: value.content.toString("utf-8") };
    } else if (value instanceof Date) {
      value = value.toISOString();
    }
    seen[name] = { type: typed.type, value };
  }
  await taskService.complete(task, new Variables().set("seen", seen));
});

process.on("SIGTERM", () => {
  client.stop();
  process.exit(0);
});
