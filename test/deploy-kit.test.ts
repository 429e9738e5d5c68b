import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "@openclaw/config";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
// The built CLI: the commands and flags the deployment files name must be ones it has.
import { buildProgram } from "../packages/cli/dist/program.js";

const ROOT = new URL("..", import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const SERVICES = ["registry", "health-monitor", "scheduler", "coordinator", "worker"];

const program = buildProgram();
/** Fails naming the file unless `args` is `<command> [--flag value]...` the CLI accepts. */
function expectCommand(args: readonly string[], where: string): void {
  const [name, ...rest] = args;
  const cmd = program.commands.find((c) => c.name() === name);
  expect(cmd, `${where}: oclaw has no command '${name}'`).toBeDefined();
  const flags = new Set(cmd?.options.flatMap((o) => [o.long, o.short].filter(Boolean)) ?? []);
  for (const arg of rest.filter((a) => a.startsWith("-")))
    expect(flags.has(arg), `${where}: 'oclaw ${name}' has no flag ${arg}`).toBe(true);
}

/** A systemd unit as sections of key/value pairs (keys may repeat). */
function parseUnit(text: string): Record<string, [string, string][]> {
  const out: Record<string, [string, string][]> = {};
  let section: [string, string][] | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = [];
      out[head[1] as string] = section;
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq <= 0) throw new Error(`not a unit file line: ${line}`);
    section.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

/** The configuration the real loader makes of a config file's text (throws with its errors). */
function loadConfigText(text: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "oc-kit-"));
  writeFileSync(join(dir, "config.yaml"), text);
  return loadConfig({ cwd: dir, configFile: join(dir, "config.yaml"), env }).config;
}

/** nats-server's own check of a config file (`-t`): throws with its complaint. */
function expectNatsConfig(path: string): void {
  const r = spawnSync("nats-server", ["-c", path, "-t"], { encoding: "utf8" });
  expect(r.status, `${path}: ${r.stderr}`).toBe(0);
  expect(r.stderr + r.stdout).toContain("is valid");
}

describe("deployment kit", () => {
  it("nats-server accepts every NATS config: single node, 3-node cluster, compose, kubernetes", () => {
    for (const f of [
      "infra/nats-server.conf",
      "infra/docker/nats.conf",
      ...["n1", "n2", "n3"].map((n) => `infra/nats-cluster/${n}.conf`),
    ])
      expectNatsConfig(join(ROOT, f));
    const k8s = parseAllDocuments(read("infra/k8s/nats.yaml")).map((d) => d.toJSON());
    const conf = k8s.find((d) => d.kind === "ConfigMap")?.data?.["nats.conf"];
    const file = join(mkdtempSync(join(tmpdir(), "oc-kit-")), "nats.conf");
    writeFileSync(file, conf);
    expectNatsConfig(file);
  });

  // Reproduction: the one-machine recipe ended in `Permission denied` (the linked bin.js was not
  // executable), its worker had no skills folder, and the NATS config listened on 0.0.0.0 with a
  // store path to edit by hand.
  it("the one-machine recipe: what it links is an executable tracked file, its worker has skills, NATS is local", () => {
    const recipe = read("docs/deployment.md").split("## Several machines")[0] as string;
    const link = /sudo ln -s \/opt\/openclaw\/(\S+) \/usr\/local\/bin\/oclaw/.exec(recipe)?.[1] as string;
    expect(link).toBeDefined();
    const staged = spawnSync("git", ["ls-files", "-s", link], { cwd: ROOT, encoding: "utf8" }).stdout;
    expect(staged, `${link} must be tracked and executable`).toMatch(/^100755 /);
    const run = spawnSync(join(ROOT, link), ["--version"], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    for (const m of recipe.matchAll(/sudo cp (?:-r )?(\S+) /g)) {
      const src = (m[1] as string).replace(/\/\*\.service$/, "");
      if (src !== ".") expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
    const skills = /^OPENCLAW_SKILLS_DIR=(\S+)$/m.exec(read("infra/systemd/openclaw.env"))?.[1];
    expect(recipe).toContain(`sudo cp -r examples/skills ${skills}`);
    const nats = read("infra/nats-server.conf");
    expect(nats).toMatch(/^host: 127\.0\.0\.1$/m);
    expect(nats).toMatch(/store_dir: "\/var\/lib\/nats"/);
    expect(recipe).toContain("sudo install -d -o nats -g nats /var/lib/nats");
  });

  it("docker compose: NATS, every service from one image with commands oclaw has, workers scalable, nginx over two coordinators", () => {
    // Compose resolves YAML merge keys (`<<: *openclaw`), as `merge: true` does here.
    const compose = parse(read("infra/docker/docker-compose.yml"), { merge: true });
    const services = compose.services as Record<string, Record<string, unknown>>;
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining([
        "nats",
        "registry",
        "health-monitor",
        "scheduler",
        "coordinator-1",
        "coordinator-2",
        "nginx",
        "worker",
      ]),
    );
    expect(String(services.nats?.image)).toMatch(/^nats:2\.9/);
    expect(services.nats?.command).toEqual(["-c", "/etc/nats/nats.conf"]);
    expect(read("infra/docker/nats.conf")).toMatch(/jetstream \{[^}]*store_dir: "\/data"/);
    const ours = Object.entries(services).filter(([, s]) => s.image === "openclaw-cluster:latest");
    expect(ours.map(([name]) => name).sort()).toEqual(
      ["coordinator-1", "coordinator-2", "health-monitor", "registry", "scheduler", "worker"].sort(),
    );
    for (const [name, s] of ours) {
      expectCommand(s.command as string[], `docker-compose.yml ${name}`);
      expect((s.environment as Record<string, string>).NATS_URL).toBe("nats://nats:4222");
    }
    // --scale worker=N: no fixed name or node id, so each replica is its own node.
    const worker = services.worker as Record<string, unknown>;
    expect(worker.container_name).toBeUndefined();
    expect(JSON.stringify(worker)).not.toMatch(/node-id|NODE_ID/);
    expect(services.scheduler?.deploy).toEqual({ replicas: 2 });
    expect(services.registry?.build).toMatchObject({ context: "../..", dockerfile: "Dockerfile" });

    const nginx = read("infra/docker/nginx.conf");
    const upstream = [...nginx.matchAll(/server (\S+):(\d+)/g)].map((m) => [m[1], m[2]]);
    expect(upstream).toEqual([
      ["coordinator-1", "8888"],
      ["coordinator-2", "8888"],
    ]);
    for (const name of ["coordinator-1", "coordinator-2"])
      expect(services[name]?.command).toEqual(expect.arrayContaining(["--port", "8888"]));
    expect(nginx).toContain("proxy_buffering off"); // event streams
  });

  it("the Dockerfile builds from files that exist and runs the CLI", () => {
    const docker = read("Dockerfile");
    for (const m of docker.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of (m[1] as string).split(/\s+/))
        expect(readdirSync(ROOT), `COPY ${src}`).toContain(src);
    const entry = /ENTRYPOINT \["node", "\/app\/(.+?)"\]/.exec(docker)?.[1];
    expect(entry).toBe("packages/cli/dist/bin.js");
    expect(readdirSync(join(ROOT, "packages/cli/dist"))).toContain("bin.js");
    expect(read(".dockerignore")).toMatch(/node_modules/);
  });

  it("systemd: a unit per service that runs an oclaw command, stops it with SIGTERM and restarts it", () => {
    const dir = join(ROOT, "infra/systemd");
    for (const svc of SERVICES) {
      const unit = parseUnit(readFileSync(join(dir, `openclaw-${svc}.service`), "utf8"));
      expect(Object.keys(unit)).toEqual(["Unit", "Service", "Install"]);
      const service = Object.fromEntries(unit.Service ?? []);
      const exec = (service.ExecStart as string).split(/\s+/);
      expect(exec.slice(0, 2)).toEqual(["/usr/bin/node", "/opt/openclaw/packages/cli/dist/bin.js"]);
      expect(exec[2]).toBe(svc);
      expectCommand(exec.slice(2), `openclaw-${svc}.service`);
      expect(service).toMatchObject({ KillSignal: "SIGTERM", Restart: "always", User: "openclaw" });
      // A worker drains before it exits: systemd must wait longer than the drain.
      if (svc === "worker") expect(Number(service.TimeoutStopSec)).toBeGreaterThan(30);
      expect(Object.fromEntries(unit.Install ?? []).WantedBy).toBe("openclaw.target");
    }
    expect(parseUnit(readFileSync(join(dir, "openclaw.target"), "utf8")).Install).toEqual([
      ["WantedBy", "multi-user.target"],
    ]);
    // The environment file's settings load.
    const env = Object.fromEntries(
      read("infra/systemd/openclaw.env")
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(loadConfigText("", env).communication.nats_url).toBe(env.NATS_URL);
    expect(read("infra/logrotate/openclaw")).toMatch(/^\/var\/log\/openclaw\/\*\.log \{/m);
  });

  it("kubernetes: a Deployment per service with commands oclaw has, NATS, the workers' HorizontalPodAutoscaler, PodDisruptionBudgets", () => {
    const dir = join(ROOT, "infra/k8s");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    const kustomization = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
    expect([...kustomization.resources].sort()).toEqual(
      files.filter((f) => f !== "kustomization.yaml").sort(),
    );
    type Doc = {
      kind: string;
      metadata: { name: string };
      spec: Record<string, unknown>;
      data?: Record<string, string>;
    };
    const docs: Doc[] = [];
    for (const f of kustomization.resources as string[]) {
      for (const d of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
        expect(d.errors, f).toEqual([]);
        docs.push(d.toJSON() as Doc);
      }
    }
    const of = (kind: string) => docs.filter((d) => d.kind === kind);
    const deployments = new Map(of("Deployment").map((d) => [d.metadata.name, d]));
    expect([...deployments.keys()].sort()).toEqual([...SERVICES].sort());
    for (const [name, d] of deployments) {
      const pod = (d.spec as { template: { spec: { containers: { args: string[]; image: string }[] } } })
        .template.spec;
      const container = pod.containers[0];
      expect(container?.image).toBe("openclaw-cluster:latest");
      expectCommand(container?.args ?? [], `k8s ${name}`);
    }
    expect(of("StatefulSet").map((s) => s.metadata.name)).toEqual(["nats"]);
    const natsConf = of("ConfigMap").find((c) => c.metadata.name === "nats-config")?.data?.["nats.conf"];
    expect(natsConf).toMatch(/jetstream \{/);
    const hpa = of("HorizontalPodAutoscaler")[0] as unknown as { spec: Record<string, unknown> };
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { kind: "Deployment", name: "worker" },
      minReplicas: 3,
      maxReplicas: 20,
      metrics: [{ resource: { name: "cpu", target: { averageUtilization: 70 } } }],
    });
    for (const pdb of of("PodDisruptionBudget")) {
      const app = (pdb.spec as { selector: { matchLabels: { app: string } } }).selector.matchLabels.app;
      expect(deployments.has(app), `PodDisruptionBudget ${pdb.metadata.name}`).toBe(true);
    }
    expect(of("PodDisruptionBudget").map((p) => p.metadata.name)).toContain("worker");
    // The worker's grace period covers its drain.
    const worker = deployments.get("worker") as unknown as {
      spec: { template: { spec: { terminationGracePeriodSeconds: number } } };
    };
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(45);
    // The ConfigMap's config.yaml is a configuration the services accept.
    const cm = of("ConfigMap").find((c) => c.metadata.name === "openclaw-config");
    const config = loadConfigText(cm?.data?.["config.yaml"] ?? "");
    expect(config.communication.nats_url).toBe("nats://nats:4222");
    expect(config.metrics.port).toBe(9464);
  });
});
