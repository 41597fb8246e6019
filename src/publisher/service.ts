import type { FastifyInstance } from "fastify";
import { missingIngress } from "../config/role-checks.js";
import { registerReplicationRoutes } from "../replication/routes.js";
import { type ReplicationOptions, ReplicationService } from "../replication/service.js";
import { listenUrl, serveHttp, stopAll } from "../service/skeleton.js";
import { Publisher, type PublisherOptions } from "./publisher.js";
import { type RegionIngress, startRegionIngress } from "./region-ingress.js";
import { registerPublisherRoutes } from "./routes.js";
import { registerStatusRoutes } from "./status-routes.js";
import { GitSource } from "./git-source.js";
import { registerUiRoutes } from "./ui-routes.js";
import { WatchFolder } from "./watch-folder.js";

/**
 * The control-plane service (`gwsync publisher`): the plugin hook's Publisher, connected to the event
 * hub, with its REST API and, when configured, a watched folder.
 */
export class PublisherService {
  readonly publisher: Publisher;
  #http: FastifyInstance | undefined;
  #watch: WatchFolder | undefined;
  /** [gwsync.git_source]: the branch this publisher follows (GitOps). */
  gitSource: GitSource | undefined;
  /** Region ingress: artifacts relayed from other regions, stored before they are announced. */
  #ingress: RegionIngress | undefined;

  /** Replication agreements, as master and as clone (src/replication/). */
  readonly replication: ReplicationService;

  constructor(
    options: PublisherOptions,
    extra: { replication?: Omit<ReplicationOptions, "publisher"> } = {},
  ) {
    this.publisher = new Publisher(options);
    this.replication = new ReplicationService({
      nodeUrl: () => this.httpUrl,
      ...extra.replication,
      publisher: this.publisher,
    });
  }

  async start(options: { http?: boolean } = {}): Promise<void> {
    const { config, log } = this.publisher;
    // Before anything is served: the labels a clone replicates are refused to local publishes.
    await this.replication.load();
    if (options.http !== false) {
      const g = config.gwsync;
      this.#http = await serveHttp(g, log, this.publisher.metrics, (app) => {
        registerPublisherRoutes(app, this.publisher, () => this.gitSource);
        registerStatusRoutes(app, this.publisher);
        registerUiRoutes(app);
        registerReplicationRoutes(app, this.replication);
      });
    }
    await this.publisher.connect();
    this.replication.start();
    this.#ingress = await startRegionIngress(this.publisher);
    const noIngress = this.#ingress === undefined ? missingIngress(config) : undefined;
    if (noIngress !== undefined) log.warn({ key: "gwsync.jndi_dir" }, `[gwsync] jndi_dir ${noIngress}`);
    const watch = config.gwsync.watch;
    if (watch) {
      this.#watch = new WatchFolder({
        dir: watch.dir,
        labels: watch.labels,
        publisher: this.publisher,
        logger: log,
        maxFileBytes: watch.maxFileBytes,
        followSymlinks: watch.followSymlinks,
        removeGraceMs: watch.removeGraceMs,
        onLimit: (limit) => this.publisher.metrics.limitExceeded.inc({ limit }),
      });
      await this.#watch.start();
      log.info({ dir: watch.dir, labels: watch.labels }, "watching folder for artifacts");
    }
    await this.#startGitSource();
  }

  async #startGitSource(): Promise<void> {
    const { config, log } = this.publisher;
    const gs = config.gwsync.gitSource;
    if (gs === undefined) return;
    this.gitSource = new GitSource({
      config: gs,
      dataDir: config.gwsync.dataDir,
      publisher: this.publisher,
      logger: log,
      onLimit: (limit) => this.publisher.metrics.limitExceeded.inc({ limit }),
    });
    await this.gitSource.start();
    log.info(
      { branch: gs.branch, folder: gs.folder || "/", labels: gs.labels, commit: this.gitSource.appliedCommit },
      "following git branch for artifacts",
    );
  }

  /** Rejects when the broker refuses the login: see Publisher.fatal. */
  get fatal(): Promise<never> {
    return this.publisher.fatal;
  }

  get httpUrl(): string | undefined {
    return listenUrl(this.#http);
  }

  async close(): Promise<void> {
    await stopAll(this.publisher.log, [
      () => this.gitSource?.close(),
      () => this.#watch?.close(),
      () => this.replication.close(),
      () => this.#ingress?.close(),
      () => this.#http?.close(),
      () => this.publisher.close(),
    ]);
  }
}
