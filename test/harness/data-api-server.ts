/**
 * The publisher's data API alone, listening on a free local port over `store`, for unit tests that
 * call it over HTTP (Basic auth `username`/`password`).
 */
import { createHttpServer, listenUrl } from "../../src/http/server.js";
import { silentLogger } from "../../src/log.js";
import { registerDataApiRoutes } from "../../src/publisher/data-api-routes.js";
import type { ArtifactStore } from "../../src/store/types.js";

export async function listeningDataApi(o: {
  store: ArtifactStore;
  meta: Parameters<typeof registerDataApiRoutes>[2];
  options?: Parameters<typeof registerDataApiRoutes>[3];
  username: string;
  password: string;
}) {
  const app = createHttpServer({
    host: "127.0.0.1",
    port: 0,
    username: o.username,
    password: o.password,
    logger: silentLogger,
  });
  registerDataApiRoutes(app, o.store, o.meta, o.options ?? {});
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, url: listenUrl(app) ?? "" };
}
