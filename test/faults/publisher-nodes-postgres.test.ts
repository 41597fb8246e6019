import { postgresEngine } from "../harness/store-engines.js";
import { nodesTest } from "./publisher-nodes.js";

// Two publisher nodes on one PostgreSQL database, four gateways, 2,000 publishes, 5 kill -9 (publisher-nodes.ts).
nodesTest(postgresEngine);
