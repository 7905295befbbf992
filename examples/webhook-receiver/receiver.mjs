// A minimal Node receiver of pkipc's webhooks: verifies each delivery with the standardwebhooks library, handles each event once.
// Run: PKIPC_WEBHOOK_SECRET=whsec_… PORT=8787 node receiver.mjs   (npm install standardwebhooks)
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const hook = new Webhook(process.env.PKIPC_WEBHOOK_SECRET);
const handled = new Set(); // webhook-ids already handled (keep them in your database, for as long as retries last)

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > 1 << 20) req.destroy(); // events are small: refuse anything large
    else chunks.push(chunk);
  });
  req.on("end", () => {
    let event;
    try {
      event = hook.verify(Buffer.concat(chunks), req.headers); // the raw bytes, before any JSON parsing
    } catch {
      res.writeHead(401).end(); // not signed with our secret, changed on the way, or older than 5 minutes
      return;
    }
    const id = req.headers["webhook-id"];
    if (!handled.has(id)) {
      handled.add(id);
      if (event.type === "session.linked") console.log(`linked ${event.data.id} by ${event.data.process?.name} pid ${event.data.process?.pid}`);
      else console.log(`${event.type} ${event.data.sessionId} ${event.data.instruction.name}: ${event.data.instruction.result ?? ""}`);
    }
    res.writeHead(204).end(); // a 2xx within the deadline, even for a duplicate: anything else is retried
  });
});
server.listen(Number(process.env.PORT ?? 8787), "127.0.0.1", () => console.log(`listening on 127.0.0.1:${server.address().port}`));
