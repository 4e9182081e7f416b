// node's basic-ftp against oxftpd: log in, upload a tree, list, download it
// again and compare SHA-256 digests.
//
// Usage: node basic_ftp_round_trip.mjs MODE PORT USER PASSWORD CA_FILE WORK_DIR
// MODE is plain, explicit or implicit. NODE_PATH must name the node_modules
// folder that holds basic-ftp. Exits non-zero on any failure.
import { createRequire } from "node:module";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH, "x.js"));
const ftp = require("basic-ftp");

const [mode, port, user, password, caFile, work] = process.argv.slice(2);
const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");

const client = new ftp.Client(30000);
client.ftp.verbose = process.env.VERBOSE === "1";
try {
  await client.access({
    host: "127.0.0.1",
    port: Number(port),
    user,
    password,
    secure: mode === "plain" ? false : mode === "implicit" ? "implicit" : true,
    secureOptions: mode === "plain" ? undefined : { ca: fs.readFileSync(caFile), servername: "localhost" },
  });
  const local = path.join(work, "tree");
  const files = { "a.bin": randomBytes(2 * 1024 * 1024 + 3), "b.txt": Buffer.from("hello\n"), "sub/c.bin": randomBytes(70000) };
  for (const [name, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(local, name)), { recursive: true });
    fs.writeFileSync(path.join(local, name), bytes);
  }
  const remote = `bf-${mode}`;
  await client.ensureDir(remote);
  await client.cd("..");
  await client.uploadFromDir(local, remote);
  const listed = (await client.list(remote)).map((f) => f.name).sort();
  console.log("listed", listed.join(","));
  if (listed.join(",") !== "a.bin,b.txt,sub") throw new Error(`unexpected listing ${listed}`);
  const back = path.join(work, "back");
  await client.downloadToDir(back, remote);
  for (const [name, bytes] of Object.entries(files)) {
    const got = fs.readFileSync(path.join(back, name));
    if (sha(got) !== sha(bytes)) throw new Error(`${name} differs after the round trip`);
  }
  console.log("round trip ok");
} catch (e) {
  console.error("basic-ftp failed:", e);
  process.exitCode = 1;
} finally {
  client.close();
}
