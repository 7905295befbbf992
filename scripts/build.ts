// Builds dist/pkipc: one executable holding the runtime, the code and every asset.
import { compile } from "./compile.ts";

const target = process.env.PKIPC_TARGET; // e.g. bun-linux-arm64 to cross-compile
const outfile = process.env.PKIPC_OUTFILE ?? "dist/pkipc";
await compile(outfile, target);
console.log(`built ${outfile}`);
