import { mysqlEngine } from "../harness/store-engines.js";
import { leaderTest } from "./replication-leader.js";

// Two clone publisher processes on one MariaDB database, the pulling one killed -9 (replication-leader.ts).
leaderTest(mysqlEngine);
