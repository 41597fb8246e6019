import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * The status page at /ui: three static files (ui/ at the package root, beside src/ and dist/) read
 * once, served behind the same credentials as the REST API, which the page polls. Plain HTML, CSS
 * and JavaScript: no framework, no build step, nothing from another origin (the CSP says so).
 */
const FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The page's files; none when the install lacks ui/ (the publisher runs on, /ui says why). */
function load(): Map<string, Buffer> {
  const dir = new URL("../../ui/", import.meta.url);
  try {
    return new Map(Object.keys(FILES).map((f) => [f, readFileSync(new URL(f, dir))]));
  } catch {
    return new Map();
  }
}

export function registerUiRoutes(app: FastifyInstance): void {
  const files = load();
  app.get("/ui", async (_req, reply) => reply.redirect("/ui/", 302));
  const serve = (name: string, reply: FastifyReply) => {
    const body = files.get(name);
    const type = FILES[name];
    if (body === undefined || type === undefined) {
      const why = files.size === 0 ? ": this install has no ui/ folder beside dist/" : "";
      return reply.code(404).send({ code: "GWSYNC_NOT_FOUND", message: `no ${name} under /ui${why}` });
    }
    return reply
      .header("content-type", type)
      .header("cache-control", "no-cache")
      .header("content-security-policy", CSP)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .send(body);
  };
  app.get("/ui/", async (_req, reply) => serve("index.html", reply));
  app.get<{ Params: { file: string } }>("/ui/:file", async (req, reply) => serve(req.params.file, reply));
}
