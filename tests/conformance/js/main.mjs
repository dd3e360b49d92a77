// Conformance check of the ECS endpoint (`ecs-operator api`) with the real, unmodified AWS SDK for
// JavaScript v3 (@aws-sdk/client-ecs). Configured only by the environment an AWS client reads:
// AWS_ENDPOINT_URL_ECS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION. Needs an ECS cluster
// "main" with capacity (kwok nodes) in the key's namespace, and the operator running.
//
// It prints one JSON line with what each step saw; on the first failure the line has "ok": false and
// "failure" (the step and the cause), the cause also goes to stderr, and the exit status is 1.
// tests/integration/test_endpoint_js.py installs (npm ci) and runs it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import {
  ClientException,
  ClusterNotFoundException,
  CreateClusterCommand,
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  ListClustersCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  paginateListTaskDefinitions,
  waitUntilTasksRunning,
  waitUntilTasksStopped,
} from "@aws-sdk/client-ecs";

const CLUSTER = "main";
const FAMILY = "js-web";
const TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113.";

const result = { ok: false };
const sent = {}; // requests (attempts) by operation
const hosts = new Set(); // where they went

class Failure extends Error {
  constructor(step, message) {
    super(message);
    this.step = step;
  }
}

const fail = (step, message) => {
  throw new Failure(step, message);
};

const show = (err) => `${err?.name}: ${err?.message}`;

// Each attempt passes the deserialize step once (the retry middleware sits before it).
function counting(client) {
  client.middlewareStack.add(
    (next) => async (args) => {
      const operation = (args.request.headers["x-amz-target"] ?? "").replace(TARGET_PREFIX, "");
      sent[operation] = (sent[operation] ?? 0) + 1;
      const port = args.request.port ? `:${args.request.port}` : "";
      hosts.add(`${args.request.protocol}//${args.request.hostname}${port}`);
      return next(args);
    },
    { step: "deserialize", name: "conformanceCounter" },
  );
  return client;
}

// An error as the SDK threw it, and the parts every ECS error must have.
function apiError(step, err, operation, before) {
  if (err === undefined) fail(step, "expected an error, the call succeeded");
  if (!(err instanceof ECSServiceException)) {
    fail(step, `the error is not an ECSServiceException (the SDK could not decode the answer?): ${show(err)}`);
  }
  const out = {
    name: err.name,
    message: err.message,
    fault: err.$fault,
    retryable: err.$retryable ?? null,
    httpStatus: err.$metadata?.httpStatusCode,
    requestId: err.$metadata?.requestId,
    attempts: err.$metadata?.attempts,
    sent: (sent[operation] ?? 0) - before,
  };
  if (out.sent !== 1 || out.attempts !== 1) {
    fail(step, `${operation} was sent ${out.sent} times ($metadata.attempts ${out.attempts}): the SDK retried ${err.name}`);
  }
  if (out.httpStatus !== 400) fail(step, `HTTP status ${out.httpStatus}, expected 400 for ${err.name}`);
  if (!out.requestId) fail(step, "no request id on the error (x-amzn-RequestId)");
  return out;
}

async function expectError(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return undefined;
}

const seconds = (started) => Math.round(performance.now() - started) / 1000;

async function run() {
  const endpoint = process.env.AWS_ENDPOINT_URL_ECS;
  if (!endpoint) fail("config", "AWS_ENDPOINT_URL_ECS is not set");
  const client = counting(new ECSClient({}));
  const require = createRequire(import.meta.url);
  const version = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version;
  result.sdk = { node: process.version, "@aws-sdk/client-ecs": version("@aws-sdk/client-ecs") };
  result.region = await client.config.region();
  const creds = await client.config.credentials();

  // ---- CreateCluster
  let out;
  try {
    out = await client.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  } catch (err) {
    fail("createCluster", show(err));
  }
  const cluster = out.cluster;
  if (cluster?.clusterName !== CLUSTER || !cluster.clusterArn?.startsWith("arn:aws:ecs:")) {
    fail("createCluster", `unexpected cluster: ${JSON.stringify(cluster)}`);
  }
  if (!out.$metadata.requestId) fail("createCluster", "no request id ($metadata.requestId, x-amzn-RequestId)");
  result.createCluster = { clusterName: cluster.clusterName, clusterArn: cluster.clusterArn, status: cluster.status,
    requestId: out.$metadata.requestId };
  const want = new URL(endpoint);
  for (const host of hosts) {
    if (host !== `${want.protocol}//${want.host}`) {
      fail("config", `the SDK sent a request to ${host}, not to AWS_ENDPOINT_URL_ECS=${endpoint}`);
    }
  }
  result.endpoint = endpoint;

  // ---- RegisterTaskDefinition ×3 (the paginator below wants ≥ 3 revisions)
  const arns = [];
  const revisions = [];
  for (let i = 0; i < 3; i++) {
    try {
      out = await client.send(new RegisterTaskDefinitionCommand({
        family: FAMILY,
        containerDefinitions: [{ name: "web", image: "nginx", memory: 64, essential: true,
          environment: [{ name: "ROUND", value: String(i) }] }],
      }));
    } catch (err) {
      fail("registerTaskDefinition", show(err));
    }
    const td = out.taskDefinition;
    if (td?.family !== FAMILY || td.containerDefinitions?.length !== 1 || td.containerDefinitions[0].memory !== 64 ||
        !(td.registeredAt instanceof Date)) {
      fail("registerTaskDefinition", `unexpected task definition: ${JSON.stringify(td)}`);
    }
    arns.push(td.taskDefinitionArn);
    revisions.push(td.revision);
  }
  result.registerTaskDefinition = { revisions, arns };

  // ---- RunTask → waitUntilTasksRunning → DescribeTasks
  const taskDefinition = arns.at(-1);
  try {
    out = await client.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition, count: 1 }));
  } catch (err) {
    fail("runTask", show(err));
  }
  if (out.failures?.length !== 0 || out.tasks?.length !== 1) {
    fail("runTask", `expected 1 task and no failures (failures: []), got ${JSON.stringify(out)}`);
  }
  const task = out.tasks[0];
  if (task.taskDefinitionArn !== taskDefinition || !(task.createdAt instanceof Date)) {
    fail("runTask", `unexpected task: ${JSON.stringify(task)}`);
  }
  result.runTask = { taskArn: task.taskArn, lastStatus: task.lastStatus, desiredStatus: task.desiredStatus,
    failures: out.failures.length };

  const describe = { cluster: CLUSTER, tasks: [task.taskArn] };
  const waiter = { client, maxWaitTime: 120, minDelay: 1, maxDelay: 2 };
  let started = performance.now();
  let waited;
  try {
    waited = await waitUntilTasksRunning(waiter, describe);
  } catch (err) {
    fail("tasksRunningWaiter", show(err));
  }
  result.tasksRunningWaiter = { state: waited.state, seconds: seconds(started), describeTasksCalls: sent.DescribeTasks };

  try {
    out = await client.send(new DescribeTasksCommand(describe));
  } catch (err) {
    fail("describeTasks", show(err));
  }
  if (out.tasks?.length !== 1 || out.failures?.length !== 0) {
    fail("describeTasks", `expected 1 task and no failures, got ${JSON.stringify(out)}`);
  }
  const t = out.tasks[0];
  if (t.lastStatus !== "RUNNING") fail("describeTasks", `lastStatus ${t.lastStatus} after the waiter, expected RUNNING`);
  if (!(t.createdAt instanceof Date) || Number.isNaN(t.createdAt.getTime()) ||
      Math.abs(Date.now() - t.createdAt.getTime()) > 10 * 60 * 1000) {
    fail("describeTasks", `createdAt ${t.createdAt} is not the task's creation time`);
  }
  if (t.clusterArn !== cluster.clusterArn || t.containers?.length !== 1 || t.containers[0].name !== "web") {
    fail("describeTasks", `unexpected task: ${JSON.stringify(t)}`);
  }
  result.describeTasks = { lastStatus: t.lastStatus, desiredStatus: t.desiredStatus, createdAt: t.createdAt.toISOString(),
    startedAt: t.startedAt?.toISOString() ?? null, containers: t.containers.length,
    containerLastStatus: t.containers[0].lastStatus, requestId: out.$metadata.requestId };

  // ---- StopTask → waitUntilTasksStopped
  try {
    out = await client.send(new StopTaskCommand({ cluster: CLUSTER, task: task.taskArn, reason: "js conformance" }));
  } catch (err) {
    fail("stopTask", show(err));
  }
  if (out.task?.desiredStatus !== "STOPPED") fail("stopTask", `desiredStatus ${out.task?.desiredStatus}, expected STOPPED`);
  result.stopTask = { desiredStatus: out.task.desiredStatus, lastStatus: out.task.lastStatus };
  started = performance.now();
  try {
    waited = await waitUntilTasksStopped(waiter, describe);
  } catch (err) {
    fail("tasksStoppedWaiter", show(err));
  }
  const ft = waited.reason?.tasks?.[0];
  if (ft?.lastStatus !== "STOPPED" || !(ft.stoppedAt instanceof Date)) {
    fail("tasksStoppedWaiter", `unexpected task: ${JSON.stringify(ft)}`);
  }
  result.tasksStoppedWaiter = { state: waited.state, seconds: seconds(started), lastStatus: ft.lastStatus,
    stoppedReason: ft.stoppedReason, stopCode: ft.stopCode };

  // ---- typed errors, not retried
  let before = sent.DescribeTasks ?? 0;
  let err = await expectError(client.send(new DescribeTasksCommand({ cluster: "nope", tasks: [task.taskArn] })));
  result.clusterNotFound = apiError("clusterNotFound", err, "DescribeTasks", before);
  if (!(err instanceof ClusterNotFoundException)) {
    fail("clusterNotFound", `not an instance of ClusterNotFoundException: ${show(err)}`);
  }
  result.clusterNotFound.instanceOf = "ClusterNotFoundException";

  before = sent.DescribeTaskDefinition ?? 0;
  err = await expectError(client.send(new DescribeTaskDefinitionCommand({ taskDefinition: "js-no-such-family" })));
  result.clientException = apiError("clientException", err, "DescribeTaskDefinition", before);
  if (!(err instanceof ClientException)) fail("clientException", `not an instance of ClientException: ${show(err)}`);
  result.clientException.instanceOf = "ClientException";

  // ---- paginator: ListTaskDefinitions, one per page
  const listed = [];
  const tokens = [];
  let pages = 0;
  try {
    for await (const page of paginateListTaskDefinitions({ client, pageSize: 1 }, { familyPrefix: FAMILY })) {
      pages++;
      if (page.taskDefinitionArns.length > 1) fail("paginator", `page ${pages} has ${page.taskDefinitionArns.length} items`);
      listed.push(...page.taskDefinitionArns);
      if (page.nextToken) {
        if (tokens.includes(page.nextToken)) fail("paginator", `nextToken ${page.nextToken} repeated on page ${pages}`);
        tokens.push(page.nextToken);
      }
      if (pages > 20) fail("paginator", `more than 20 pages for ${arns.length} revisions`);
    }
  } catch (e) {
    if (e instanceof Failure) throw e;
    fail("paginator", `page ${pages + 1}: ${show(e)}`);
  }
  if (pages < 3) fail("paginator", `${pages} pages, expected at least 3`);
  if ([...listed].sort().join() !== [...arns].sort().join()) fail("paginator", `listed ${listed}, registered ${arns}`);
  result.paginator = { pages, tokens, arns: listed };

  // ---- a wrong secret key → InvalidSignatureException, not retried
  const wrongKey = counting(new ECSClient({
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: `${creds.secretAccessKey}x` },
  }));
  before = sent.ListClusters ?? 0;
  err = await expectError(wrongKey.send(new ListClustersCommand({})));
  result.invalidSignature = apiError("invalidSignature", err, "ListClusters", before);
  if (err.name !== "InvalidSignatureException") {
    fail("invalidSignature", `name ${err.name}, expected InvalidSignatureException (${err.message})`);
  }

  try {
    out = await client.send(new ListClustersCommand({}));
  } catch (e) {
    fail("listClusters", show(e));
  }
  result.listClusters = out.clusterArns;

  // DescribeClusters: an unknown name is a failure (MISSING) in a 200 answer, not an error
  try {
    out = await client.send(new DescribeClustersCommand({ clusters: [CLUSTER, "nope"],
      include: ["TAGS", "SETTINGS", "STATISTICS"] }));
  } catch (e) {
    fail("describeClusters", show(e));
  }
  if (out.clusters?.length !== 1 || out.clusters[0].clusterName !== CLUSTER || out.failures?.length !== 1 ||
      out.failures[0].reason !== "MISSING") {
    fail("describeClusters", `expected [main] and one MISSING failure, got ${JSON.stringify(out)}`);
  }
  result.describeClusters = { status: out.clusters[0].status,
    registeredContainerInstancesCount: out.clusters[0].registeredContainerInstancesCount, failure: out.failures[0] };
  result.requests = sent;
  result.ok = true;
}

let code = 0;
try {
  await run();
} catch (err) {
  const step = err instanceof Failure ? err.step : "exception";
  const message = err instanceof Failure ? err.message : (err?.stack ?? String(err));
  result.ok = false;
  result.failure = { step, message };
  process.stderr.write(`FAILED at ${step}: ${message}\n`);
  code = 1;
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exitCode = code;
